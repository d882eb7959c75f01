import fc from 'fast-check';
import type { AttemptEnd } from './failure.js';
import { JOB_STATUSES, type JobStatus } from './job-state.js';
import { decidesGang, JOB_COMMAND_TYPES, statusMoves, transition, type Effect, type JobCommand, type JobSnapshot } from './lifecycle.js';

const job = (status: JobStatus, over: Partial<JobSnapshot> = {}): JobSnapshot => ({
  status, attemptCount: ['STARTING', 'RUNNING'].includes(status) ? 1 : 0, maxAttempts: 2, retryRules: [], terminateReason: null, ...over,
});
const exited = (exitCode: number): AttemptEnd => ({ kind: 'exited', exitCode, oomKilled: false });
const at = new Date('2026-12-01T00:00:00Z');

/** One command of each type (attempt 1), for walking the table. */
function sampleOf(type: JobCommand['type']): JobCommand {
  switch (type) {
    case 'dependencies-succeeded': return { type };
    case 'dependency-failed': return { type, dependencyId: 'dep' };
    case 'children-finished': return { type, size: 3, failed: 0 };
    case 'place': return { type, workerId: 'w-1', gpuDevices: [0] };
    case 'image-pulling': return { type, attempt: 1, workerId: 'w-1', image: 'registry.example.com/a:1' };
    case 'container-started': return { type, attempt: 1, workerId: 'w-1', startedAt: at };
    case 'attempt-ended': return { type, attempt: 1, end: exited(0), stoppedAt: at };
    case 'cancel': return { type, reason: 'no longer needed' };
    case 'terminate': return { type, reason: 'stop it' };
    case 'gang-ended': return { type, attempt: 1, decidedBy: { nodeIndex: 0, end: exited(0) }, ownEnd: null, stoppedAt: at };
    case 'preempt': return { type, by: 'urgent', graceSeconds: 30 };
  }
}

describe('the job lifecycle table', () => {
  it('defines an outcome for every status and command', () => {
    for (const status of JOB_STATUSES) {
      for (const type of JOB_COMMAND_TYPES) {
        const t = transition(job(status), sampleOf(type));
        expect(['applied', 'ignored', 'refused']).toContain(t.outcome);
        if (t.outcome === 'applied') {
          expect(t.from).toBe(status);
          expect(JOB_STATUSES).toContain(t.to);
          expect(t.reason.length).toBeGreaterThan(0);
        }
      }
    }
  });

  it('never moves a terminal job: every command on it is ignored', () => {
    for (const status of ['SUCCEEDED', 'FAILED'] as const) {
      for (const type of JOB_COMMAND_TYPES) expect(transition(job(status), sampleOf(type)).outcome).toBe('ignored');
    }
  });

  it('allows exactly the AWS Batch moves', () => {
    expect(statusMoves()).toEqual([
      'PENDING>FAILED', 'PENDING>RUNNABLE', 'PENDING>SUCCEEDED',
      'RUNNABLE>FAILED', 'RUNNABLE>STARTING',
      'RUNNING>FAILED', 'RUNNING>RUNNABLE', 'RUNNING>SUCCEEDED',
      'STARTING>FAILED', 'STARTING>RUNNABLE', 'STARTING>RUNNING', 'STARTING>SUCCEEDED',
      'SUBMITTED>FAILED',
    ]);
  });

  it('says an image is being pulled while STARTING, for the current attempt only, without moving the job', () => {
    const pulling = { type: 'image-pulling' as const, attempt: 1, workerId: 'w-1', image: 'r:5000/a:1' };
    expect(transition(job('STARTING'), pulling)).toEqual({ outcome: 'applied', from: 'STARTING', to: 'STARTING', reason: 'Pulling image r:5000/a:1 on worker w-1', effects: [] });
    expect(transition(job('STARTING', { attemptCount: 2 }), pulling).outcome).toBe('ignored');
    expect(transition(job('STARTING', { terminateReason: 'x' }), pulling).outcome).toBe('ignored');
    for (const status of ['SUBMITTED', 'PENDING', 'RUNNABLE', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const) expect(transition(job(status), pulling).outcome).toBe('ignored');
  });

  it('cancel fails waiting jobs and refuses started ones', () => {
    for (const status of ['SUBMITTED', 'PENDING', 'RUNNABLE'] as const) {
      expect(transition(job(status), { type: 'cancel', reason: 'r' })).toMatchObject({ outcome: 'applied', to: 'FAILED', reason: 'r' });
    }
    expect(transition(job('RUNNING'), { type: 'cancel', reason: 'r' })).toMatchObject({ outcome: 'refused', code: 'JOB_NOT_CANCELLABLE' });
  });

  it('terminate of a running job stops its attempt once, and its end is final whatever it was', () => {
    const t = transition(job('RUNNING'), { type: 'terminate', reason: 'stop it' });
    expect(t).toMatchObject({ outcome: 'applied', to: 'RUNNING' });
    expect(t.outcome === 'applied' && t.effects).toEqual([{ type: 'record-terminate', reason: 'stop it' }, { type: 'stop-attempt', attempt: 1 }]);
    const terminating = job('RUNNING', { terminateReason: 'stop it' });
    expect(transition(terminating, { type: 'terminate', reason: 'again' }).outcome).toBe('ignored');
    // Killed by SIGTERM (143) with attempts left: still not retried, and the caller's reason stands.
    expect(transition(terminating, { type: 'attempt-ended', attempt: 1, end: exited(143), stoppedAt: at }))
      .toMatchObject({ outcome: 'applied', to: 'FAILED', reason: 'stop it' });
  });

  it('retries a failed attempt while attempts remain, then fails', () => {
    expect(transition(job('RUNNING'), { type: 'attempt-ended', attempt: 1, end: exited(3), stoppedAt: at })).toMatchObject({
      outcome: 'applied', to: 'RUNNABLE', reason: 'Attempt 1 failed (Essential container exited with code 3); retrying, attempt 2 of 2',
    });
    expect(transition(job('RUNNING', { attemptCount: 2 }), { type: 'attempt-ended', attempt: 2, end: exited(3), stoppedAt: at }))
      .toMatchObject({ outcome: 'applied', to: 'FAILED', reason: 'Essential container exited with code 3' });
  });

  it('ignores reports of attempts that are not the current one', () => {
    const current = job('RUNNING', { attemptCount: 2 });
    expect(transition(current, { type: 'attempt-ended', attempt: 1, end: exited(0), stoppedAt: at }).outcome).toBe('ignored');
    expect(transition(job('STARTING', { attemptCount: 2 }), { type: 'container-started', attempt: 1, workerId: 'w', startedAt: at }).outcome).toBe('ignored');
  });
});

describe('the lifecycle of a multi-node job', () => {
  const gangEnded = (nodeIndex: number, end: AttemptEnd, ownEnd: AttemptEnd | null = null): JobCommand =>
    ({ type: 'gang-ended', attempt: 1, decidedBy: { nodeIndex, end }, ownEnd, stoppedAt: at });

  it('lets a worker node that exits 0 first wait for the main node, its attempt closed', () => {
    const t = transition(job('RUNNING', { nodeIndex: 1 }), { type: 'attempt-ended', attempt: 1, end: exited(0), stoppedAt: at });
    expect(t).toMatchObject({ outcome: 'applied', to: 'RUNNING' });
    expect(t.outcome === 'applied' && t.effects.map((e) => e.type)).toEqual(['close-attempt']);
  });

  it('finishes every node with the main node: the node that reported closes with its own end, the others are stopped', () => {
    const main = transition(job('RUNNING', { nodeIndex: 0 }), gangEnded(0, exited(0), exited(0)));
    expect(main).toMatchObject({ outcome: 'applied', to: 'SUCCEEDED', reason: 'Essential container exited with code 0' });
    const other = transition(job('RUNNING', { nodeIndex: 1 }), gangEnded(0, exited(0)));
    expect(other).toMatchObject({ outcome: 'applied', to: 'SUCCEEDED', reason: 'Succeeded with the main node: Essential container exited with code 0' });
    expect(other.outcome === 'applied' && other.effects.map((e) => e.type)).toEqual(['close-attempt', 'stop-attempt']);
  });

  it('retries every node together when any node fails with attempts left, and fails them together after', () => {
    for (const nodeIndex of [0, 1, 2]) {
      expect(transition(job('RUNNING', { nodeIndex }), gangEnded(1, exited(137), nodeIndex === 1 ? exited(137) : null))).toMatchObject({
        outcome: 'applied', to: 'RUNNABLE', reason: 'Attempt 1 failed on node 1 (Essential container exited with code 137); retrying all nodes, attempt 2 of 2',
      });
      expect(transition(job('RUNNING', { nodeIndex, attemptCount: 2 }), { ...gangEnded(1, { kind: 'worker-lost', workerId: 'w-2' }), attempt: 2 } as JobCommand))
        .toMatchObject({ outcome: 'applied', to: 'FAILED' });
    }
  });

  it('decides the gang on the main node\'s end or any failure, never on a worker node that exits 0', () => {
    expect(decidesGang(0, exited(0))).toBe(true);
    expect(decidesGang(0, exited(2))).toBe(true);
    expect(decidesGang(3, exited(0))).toBe(false);
    expect(decidesGang(3, { kind: 'worker-lost', workerId: 'w' })).toBe(true);
  });

  it('ignores the end of an earlier attempt and a gang that already went back to RUNNABLE', () => {
    expect(transition(job('RUNNING', { nodeIndex: 0, attemptCount: 2 }), gangEnded(1, exited(1))).outcome).toBe('ignored');
    expect(transition(job('RUNNABLE', { nodeIndex: 0, attemptCount: 1 }), gangEnded(1, exited(1))).outcome).toBe('ignored');
  });
});

describe('preemption in the lifecycle', () => {
  it('tells a running job who preempts it, once, and not while a terminate is under way', () => {
    const t = transition(job('RUNNING'), { type: 'preempt', by: 'urgent', graceSeconds: 30 });
    expect(t).toMatchObject({ outcome: 'applied', to: 'RUNNING', reason: 'Preempting: job urgent needs its resources; checkpoint notice sent (grace 30 s)' });
    expect(t.outcome === 'applied' && t.effects).toEqual([{ type: 'preempt-attempt', attempt: 1, by: 'urgent', graceSeconds: 30 }]);
    expect(transition(job('RUNNING', { terminateReason: 'stop' }), { type: 'preempt', by: 'urgent', graceSeconds: 30 }).outcome).toBe('ignored');
    expect(transition(job('STARTING'), { type: 'preempt', by: 'urgent', graceSeconds: 30 }).outcome).toBe('ignored');
  });

  it('puts a preempted job back in the queue without using an attempt, even on its last one', () => {
    const end: AttemptEnd = { kind: 'preempted', by: 'urgent', acknowledged: true, exitCode: 0 };
    const t = transition(job('RUNNING', { maxAttempts: 1 }), { type: 'attempt-ended', attempt: 1, end, stoppedAt: at });
    expect(t).toMatchObject({
      outcome: 'applied', to: 'RUNNABLE',
      reason: 'PREEMPTED: by job urgent (checkpoint acknowledged); back in the queue without using an attempt (restart 1)',
    });
    expect(t.outcome === 'applied' && t.effects.map((e) => e.type)).toEqual(['close-attempt', 'record-preemption']);
    const spot = transition(job('RUNNING'), { type: 'attempt-ended', attempt: 1, end: { kind: 'interrupted', acknowledged: false, exitCode: 137 }, stoppedAt: at });
    expect(spot).toMatchObject({ outcome: 'applied', to: 'RUNNABLE' });
    expect(spot.outcome === 'applied' && spot.effects[0]).toMatchObject({ type: 'close-attempt', status: 'INTERRUPTED', reason: 'SPOT_INTERRUPTION: its worker is being reclaimed (not acknowledged before the deadline)' });
    // Attempt 2 after one preemption is the job's first real try: a failure with maxAttempts 2 is retried.
    expect(transition(job('RUNNING', { attemptCount: 2, preemptions: 1 }), { type: 'attempt-ended', attempt: 2, end: exited(1), stoppedAt: at }))
      .toMatchObject({ outcome: 'applied', to: 'RUNNABLE', reason: 'Attempt 2 failed (Essential container exited with code 1); retrying, attempt 2 of 2' });
  });
});

/**
 * A model of the writer: applies each transition to the job and its attempt
 * rows exactly as libs/db does, so the property below holds for what is
 * stored, not only for the table.
 */
function applyAll(commands: JobCommand[]) {
  let state: JobSnapshot = { status: 'RUNNABLE', attemptCount: 0, maxAttempts: 3, retryRules: [], terminateReason: null };
  const attempts = new Map<number, { status: 'STARTING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'PREEMPTED' | 'INTERRUPTED'; settled: number }>();
  const history: JobStatus[] = [state.status];
  for (const command of commands) {
    const t = transition(state, command);
    if (t.outcome !== 'applied') continue;
    for (const e of t.effects as Effect[]) {
      if (e.type === 'open-attempt') {
        if (attempts.has(e.attempt)) throw new Error(`attempt ${e.attempt} opened twice`);
        attempts.set(e.attempt, { status: 'STARTING', settled: 0 });
        state = { ...state, attemptCount: e.attempt };
      }
      if (e.type === 'attempt-running') attempts.get(e.attempt)!.status = 'RUNNING';
      if (e.type === 'close-attempt') {
        const a = attempts.get(e.attempt)!;
        a.status = e.status;
        a.settled++;
      }
      if (e.type === 'record-terminate') state = { ...state, terminateReason: e.reason };
    }
    state = { ...state, status: t.to };
    history.push(t.to);
  }
  return { state, attempts, history };
}

describe('the lifecycle under any order of commands and reports', () => {
  const command: fc.Arbitrary<JobCommand> = fc.oneof(
    fc.constant<JobCommand>({ type: 'place', workerId: 'w-1', gpuDevices: [0] }),
    fc.integer({ min: 1, max: 4 }).map((attempt) => ({ type: 'container-started' as const, attempt, workerId: 'w-1', startedAt: at })),
    fc.tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom<AttemptEnd>(
      exited(0), exited(1), { kind: 'worker-lost', workerId: 'w-1' }, { kind: 'timeout', timeoutSeconds: 5, exitCode: null },
      { kind: 'terminated', reason: 'x', exitCode: 143 },
    )).map(([attempt, end]) => ({ type: 'attempt-ended' as const, attempt, end, stoppedAt: at })),
    fc.constant<JobCommand>({ type: 'cancel', reason: 'c' }),
    fc.constant<JobCommand>({ type: 'terminate', reason: 't' }),
    fc.constant<JobCommand>({ type: 'dependencies-succeeded' }),
    fc.integer({ min: 1, max: 4 }).map((attempt) => ({ type: 'image-pulling' as const, attempt, workerId: 'w-1', image: 'i' })),
  );
  // Every command may arrive twice, and in any order.
  const sequence = fc.array(command, { maxLength: 40 }).chain((cs) => fc.shuffledSubarray([...cs, ...cs], { minLength: cs.length }));

  it('never reaches an undefined state, a second active attempt, a second settlement, or a change after the end', () => {
    fc.assert(fc.property(sequence, (commands) => {
      const { state, attempts, history } = applyAll(commands);
      expect(JOB_STATUSES).toContain(state.status);
      const active = [...attempts.values()].filter((a) => a.status === 'STARTING' || a.status === 'RUNNING');
      expect(active.length).toBeLessThanOrEqual(1);
      // An active attempt exists exactly when the job is placed.
      expect(active.length === 1).toBe(state.status === 'STARTING' || state.status === 'RUNNING');
      for (const a of attempts.values()) expect(a.settled).toBeLessThanOrEqual(1);
      const end = history.findIndex((s) => s === 'SUCCEEDED' || s === 'FAILED');
      if (end >= 0) expect(new Set(history.slice(end)).size).toBe(1);
    }), { numRuns: 2000 });
  });
});
