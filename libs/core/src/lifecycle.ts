import { attemptOutcome, type AttemptEnd } from './failure.js';
import { JOB_STATUSES, type JobStatus } from './job-state.js';
import { shouldRetry, type ExitRule } from './retry.js';

/**
 * What can happen to a job. Every status change of a job or an attempt is
 * one of these, decided by `transition` and applied by the lifecycle writer
 * (libs/db), which is the only code that writes a status.
 */
export type JobCommand =
  /** All of a PENDING job's dependencies succeeded. */
  | { type: 'dependencies-succeeded' }
  /** A dependency of a PENDING job failed: it can never run. */
  | { type: 'dependency-failed'; dependencyId: string }
  /** Every child of a PENDING array parent finished. */
  | { type: 'children-finished'; size: number; failed: number }
  /** The scheduler placed the job on `workerId` with these GPUs: its next attempt (with a multi-node job's node environment). */
  | { type: 'place'; workerId: string; gpuDevices: number[]; nodeEnvironment?: Readonly<Record<string, string>> }
  /** The attempt's worker is pulling its image: only the reason changes, the job stays STARTING. */
  | { type: 'image-pulling'; attempt: number; workerId: string; image: string }
  /** The attempt's container really started at `startedAt`. */
  | { type: 'container-started'; attempt: number; workerId: string; startedAt: Date }
  /** The attempt ended, however: a worker's exit report, or the scheduler's verdict (worker lost, timeout, container lost). */
  | { type: 'attempt-ended'; attempt: number; end: AttemptEnd; stoppedAt: Date }
  /** AWS Batch CancelJob: fails a job that has not started. */
  | { type: 'cancel'; reason: string }
  /** AWS Batch TerminateJob: fails a waiting job, or stops the running attempt; never retried. */
  | { type: 'terminate'; reason: string }
  /** Job `by` needs this running job's resources: start the checkpoint handshake (its end comes as `attempt-ended` kind `preempted`). */
  | { type: 'preempt'; by: string; graceSeconds: number }
  /**
   * A multi-node job's attempt is over for every node: node `decidedBy.nodeIndex`
   * ended as `decidedBy.end` (the main node's exit, or any node's failure).
   * `ownEnd` is this node's own end when it is the one that reported; without
   * it, this node's container is stopped.
   */
  | { type: 'gang-ended'; attempt: number; decidedBy: { nodeIndex: number; end: AttemptEnd }; ownEnd: AttemptEnd | null; stoppedAt: Date };

export type JobCommandType = JobCommand['type'];
export const JOB_COMMAND_TYPES: readonly JobCommandType[] = [
  'dependencies-succeeded', 'dependency-failed', 'children-finished', 'place', 'image-pulling', 'container-started', 'attempt-ended', 'cancel', 'terminate',
  'gang-ended', 'preempt',
];

/** The job as the lifecycle needs to see it to decide. */
export interface JobSnapshot {
  status: JobStatus;
  /** The number of the latest attempt (0 before the first placement). */
  attemptCount: number;
  maxAttempts: number;
  retryRules: readonly ExitRule[];
  /** Set once a terminate was asked for while an attempt ran: that attempt's end is final. */
  terminateReason: string | null;
  /** A multi-node job's node: 0 is the main node (the job itself), 1.. its other nodes; absent for single-node jobs. */
  nodeIndex?: number | null;
  /** Attempts that ended preempted: they do not count against `maxAttempts`. */
  preemptions?: number;
}

/** What the writer must do beyond the status and the event row. */
export type Effect =
  /** Open the attempt row (STARTING) with its worker and GPU devices. */
  | { type: 'open-attempt'; attempt: number; workerId: string; gpuDevices: number[]; nodeEnvironment?: Readonly<Record<string, string>> }
  /** Mark the attempt RUNNING from the container's real start; the meter opens then. */
  | { type: 'attempt-running'; attempt: number; startedAt: Date }
  /** Close the attempt with its own status, exit code and reason; the meter settles then. */
  | { type: 'close-attempt'; attempt: number; status: 'SUCCEEDED' | 'FAILED' | 'PREEMPTED' | 'INTERRUPTED'; exitCode: number | null; reason: string; stoppedAt: Date }
  /** Count a preemption: the job's next attempt sees it as GPUBATCH_RESTART_COUNT, and it uses no retry. */
  | { type: 'record-preemption' }
  /** Ask the attempt's worker for the checkpoint handshake: signal, notice file, grace, then stop. */
  | { type: 'preempt-attempt'; attempt: number; by: string; graceSeconds: number }
  /** Remember the terminate: however the attempt now ends, the job is not retried. */
  | { type: 'record-terminate'; reason: string }
  /** Ask the attempt's worker to stop its container. */
  | { type: 'stop-attempt'; attempt: number };

export type Transition =
  | { outcome: 'applied'; from: JobStatus; to: JobStatus; reason: string; at?: Date; effects: Effect[] }
  /** A repeat or a late report: nothing changes, nothing is written. */
  | { outcome: 'ignored'; why: string }
  /** Not allowed in this status; `code` is what the API answers with. */
  | { outcome: 'refused'; code: 'JOB_NOT_CANCELLABLE' | 'INVALID_TRANSITION'; message: string };

type Rule = (job: JobSnapshot, command: never) => Transition;


const ignored = (why: string): Transition => ({ outcome: 'ignored', why });
const refused = (job: JobSnapshot, type: JobCommandType): Transition => ({
  outcome: 'refused', code: 'INVALID_TRANSITION', message: `${type} does not apply to a ${job.status} job`,
});
const finished = (job: JobSnapshot): Transition => ignored(`the job already ${job.status === 'SUCCEEDED' ? 'succeeded' : 'failed'}`);
const fail = (job: JobSnapshot, reason: string, effects: Effect[] = []): Transition => ({ outcome: 'applied', from: job.status, to: 'FAILED', reason, effects });

/** Ends the current attempt: the job succeeds, fails, or goes back to RUNNABLE while attempts remain. */
function endAttempt(job: JobSnapshot, c: Extract<JobCommand, { type: 'attempt-ended' }>): Transition {
  if (c.attempt !== job.attemptCount) return ignored(`attempt ${c.attempt} is not the current attempt ${job.attemptCount}`);
  // The attempt keeps what really happened to it (e.g. `Worker lost`); the job's fate may differ, below.
  const happened = attemptOutcome(c.end);
  // A terminate was asked for: whatever ended the attempt, it is final and the caller's reason stands for the job.
  const end: AttemptEnd = job.terminateReason !== null && c.end.kind !== 'terminated' && happened.status === 'FAILED'
    ? { kind: 'terminated', reason: job.terminateReason, exitCode: happened.exitCode }
    : c.end;
  const outcome = attemptOutcome(end);
  if (end.kind === 'preempted' || end.kind === 'interrupted') {
    // Not a failure of the job: back in the queue (at its place by submit time), with no retry used.
    const restart = (job.preemptions ?? 0) + 1;
    return {
      outcome: 'applied', from: job.status, to: 'RUNNABLE', at: c.stoppedAt,
      effects: [{ type: 'close-attempt', attempt: c.attempt, status: end.kind === 'preempted' ? 'PREEMPTED' : 'INTERRUPTED', exitCode: happened.exitCode, reason: happened.reason, stoppedAt: c.stoppedAt }, { type: 'record-preemption' }],
      reason: `${happened.reason}; back in the queue without using an attempt (restart ${restart})`,
    };
  }
  const close: Effect = { type: 'close-attempt', attempt: c.attempt, status: happened.status, exitCode: happened.exitCode, reason: happened.reason, stoppedAt: c.stoppedAt };
  if (isGangWorker(job) && outcome.status === 'SUCCEEDED') {
    // A worker node that finished first: the main node's exit decides the job, so this node waits for it.
    return { outcome: 'applied', from: job.status, to: job.status, at: c.stoppedAt, effects: [close], reason: `Node ${job.nodeIndex} finished (${outcome.reason}); waiting for the main node` };
  }
  const used = c.attempt - (job.preemptions ?? 0);
  const retry = shouldRetry({ end, outcome, attempt: used, maxAttempts: job.maxAttempts, rules: job.retryRules });
  return {
    outcome: 'applied', from: job.status, to: retry ? 'RUNNABLE' : outcome.status, at: c.stoppedAt, effects: [close],
    reason: retry ? `Attempt ${c.attempt} failed (${outcome.reason}); retrying, attempt ${used + 1} of ${job.maxAttempts}` : outcome.reason,
  };
}

const isGangWorker = (job: JobSnapshot): boolean => job.nodeIndex !== undefined && job.nodeIndex !== null && job.nodeIndex > 0;

/**
 * Ends a multi-node job's attempt on one of its nodes, as decided by the node
 * that ended first (see `decidesGang`). Every node takes the same road: all
 * retry together (the whole gang goes back to RUNNABLE), or all finish with
 * the deciding node's outcome. A node that did not report is stopped.
 */
function endGang(job: JobSnapshot, c: Extract<JobCommand, { type: 'gang-ended' }>): Transition {
  if (c.attempt !== job.attemptCount) return ignored(`attempt ${c.attempt} is not the current attempt ${job.attemptCount}`);
  const decided = attemptOutcome(c.decidedBy.end);
  const end: AttemptEnd = job.terminateReason !== null && c.decidedBy.end.kind !== 'terminated' && decided.status === 'FAILED'
    ? { kind: 'terminated', reason: job.terminateReason, exitCode: decided.exitCode }
    : c.decidedBy.end;
  const outcome = attemptOutcome(end);
  const used = c.attempt - (job.preemptions ?? 0);
  const retry = shouldRetry({ end, outcome, attempt: used, maxAttempts: job.maxAttempts, rules: job.retryRules });
  const by = c.decidedBy.nodeIndex === 0 ? 'the main node' : `node ${c.decidedBy.nodeIndex}`;
  const effects: Effect[] = [];
  if (c.ownEnd) {
    const own = attemptOutcome(c.ownEnd);
    effects.push({ type: 'close-attempt', attempt: c.attempt, status: own.status, exitCode: own.exitCode, reason: own.reason, stoppedAt: c.stoppedAt });
  } else {
    // Already closed when this node finished first; the writer then leaves it as it was.
    effects.push(
      { type: 'close-attempt', attempt: c.attempt, status: 'FAILED', exitCode: null, reason: `Stopped: ${by} ended (${outcome.reason})`, stoppedAt: c.stoppedAt },
      { type: 'stop-attempt', attempt: c.attempt },
    );
  }
  const self = c.decidedBy.nodeIndex === (job.nodeIndex ?? 0);
  const reason = retry
    ? `Attempt ${c.attempt} failed on ${by} (${outcome.reason}); retrying all nodes, attempt ${used + 1} of ${job.maxAttempts}`
    : self ? outcome.reason : `${outcome.status === 'SUCCEEDED' ? 'Succeeded' : 'Failed'} with ${by}: ${outcome.reason}`;
  return { outcome: 'applied', from: job.status, to: retry ? 'RUNNABLE' : outcome.status, at: c.stoppedAt, effects, reason };
}

/**
 * The lifecycle, one row per status and one column per command. Each cell
 * says what that command does to a job in that status: apply a move (with
 * its reason and effects), ignore a repeat, or refuse.
 */
const TABLE: { [S in JobStatus]: { [C in JobCommandType]: (job: JobSnapshot, command: Extract<JobCommand, { type: C }>) => Transition } } = {
  SUBMITTED: {
    'dependencies-succeeded': (job) => refused(job, 'dependencies-succeeded'),
    'dependency-failed': (job, c) => fail(job, `Dependent job ${c.dependencyId} failed`),
    'children-finished': (job) => refused(job, 'children-finished'),
    place: (job) => refused(job, 'place'),
    'image-pulling': () => ignored('no attempt was placed'),
    'container-started': () => ignored('no attempt was placed'),
    'attempt-ended': () => ignored('no attempt was placed'),
    cancel: (job, c) => fail(job, c.reason),
    terminate: (job, c) => fail(job, c.reason),
    'gang-ended': () => ignored('no attempt was placed'),
    preempt: () => ignored('no attempt was placed'),
  },
  PENDING: {
    'dependencies-succeeded': (job) => ({ outcome: 'applied', from: job.status, to: 'RUNNABLE', reason: 'All dependencies succeeded', effects: [] }),
    'dependency-failed': (job, c) => fail(job, `Dependent job ${c.dependencyId} failed`),
    // PENDING -> SUCCEEDED: an array parent, which never runs itself, finishes with its children.
    'children-finished': (job, c) => c.failed === 0
      ? { outcome: 'applied', from: job.status, to: 'SUCCEEDED', reason: `All ${c.size} children succeeded`, effects: [] }
      : fail(job, `${c.failed} of ${c.size} children failed`),
    place: (job) => refused(job, 'place'),
    'image-pulling': () => ignored('no attempt was placed'),
    'container-started': () => ignored('no attempt was placed'),
    'attempt-ended': () => ignored('no attempt was placed'),
    cancel: (job, c) => fail(job, c.reason),
    terminate: (job, c) => fail(job, c.reason),
    'gang-ended': () => ignored('no attempt was placed'),
    preempt: () => ignored('no attempt was placed'),
  },
  RUNNABLE: {
    'dependencies-succeeded': () => ignored('already runnable'),
    'dependency-failed': () => ignored('its dependencies were met before'),
    'children-finished': (job) => refused(job, 'children-finished'),
    place: (job, c) => ({
      outcome: 'applied', from: job.status, to: 'STARTING', reason: `Placed on worker ${c.workerId}`,
      effects: [{ type: 'open-attempt', attempt: job.attemptCount + 1, workerId: c.workerId, gpuDevices: c.gpuDevices, ...(c.nodeEnvironment ? { nodeEnvironment: c.nodeEnvironment } : {}) }],
    }),
    // Reports of an attempt that already ended (a retry is waiting): late or repeated.
    'image-pulling': () => ignored('the attempt already ended'),
    'container-started': () => ignored('the attempt already ended'),
    'attempt-ended': () => ignored('the attempt already ended'),
    cancel: (job, c) => fail(job, c.reason),
    terminate: (job, c) => fail(job, c.reason),
    'gang-ended': () => ignored('the attempt already ended'),
    preempt: () => ignored('the attempt already ended'),
  },
  STARTING: {
    'dependencies-succeeded': () => ignored('already placed'),
    'dependency-failed': () => ignored('already placed'),
    'children-finished': (job) => refused(job, 'children-finished'),
    place: () => ignored('already placed'),
    // STARTING -> STARTING: the reason says the image is being pulled (it can take minutes).
    'image-pulling': (job, c) => c.attempt !== job.attemptCount ? ignored(`attempt ${c.attempt} is not the current attempt ${job.attemptCount}`)
      : job.terminateReason !== null ? ignored('a terminate is under way')
      : { outcome: 'applied', from: job.status, to: job.status, reason: `Pulling image ${c.image} on worker ${c.workerId}`, effects: [] },
    'container-started': (job, c) => c.attempt !== job.attemptCount
      ? ignored(`attempt ${c.attempt} is not the current attempt ${job.attemptCount}`)
      : {
        outcome: 'applied', from: job.status, to: 'RUNNING', reason: `Running on worker ${c.workerId}`, at: c.startedAt,
        effects: [{ type: 'attempt-running', attempt: c.attempt, startedAt: c.startedAt }],
      },
    'attempt-ended': endAttempt,
    cancel: (job) => ({ outcome: 'refused', code: 'JOB_NOT_CANCELLABLE', message: `the job is ${job.status}; cancel only stops jobs that have not started, use terminate` }),
    terminate: stopActive,
    'gang-ended': endGang,
    preempt: () => ignored('the container has not started yet'),
  },
  RUNNING: {
    'dependencies-succeeded': () => ignored('already placed'),
    'dependency-failed': () => ignored('already placed'),
    'children-finished': (job) => refused(job, 'children-finished'),
    place: () => ignored('already placed'),
    'image-pulling': () => ignored('already running'),
    'container-started': () => ignored('already running'),
    'attempt-ended': endAttempt,
    cancel: (job) => ({ outcome: 'refused', code: 'JOB_NOT_CANCELLABLE', message: `the job is ${job.status}; cancel only stops jobs that have not started, use terminate` }),
    terminate: stopActive,
    'gang-ended': endGang,
    preempt: startPreemption,
  },
  SUCCEEDED: terminalRow(),
  FAILED: terminalRow(),
};

/** Terminate of a placed job: the status stays until the worker reports the container's end. */
function stopActive(job: JobSnapshot, c: { reason: string }): Transition {
  if (job.terminateReason !== null) return ignored('a terminate is already under way');
  return {
    outcome: 'applied', from: job.status, to: job.status, reason: `Terminating: ${c.reason}`,
    effects: [{ type: 'record-terminate', reason: c.reason }, { type: 'stop-attempt', attempt: job.attemptCount }],
  };
}

/** A running job asked to make room: its timeline says for whom; the worker runs the handshake and reports the end. */
function startPreemption(job: JobSnapshot, c: Extract<JobCommand, { type: 'preempt' }>): Transition {
  if (job.terminateReason !== null) return ignored('a terminate is already under way');
  return {
    outcome: 'applied', from: job.status, to: job.status,
    reason: `Preempting: job ${c.by} needs its resources; checkpoint notice sent (grace ${c.graceSeconds} s)`,
    effects: [{ type: 'preempt-attempt', attempt: job.attemptCount, by: c.by, graceSeconds: c.graceSeconds }],
  };
}

/** Terminal states never change: every command is a late or repeated one. */
function terminalRow(): (typeof TABLE)['FAILED'] {
  const row = {} as Record<JobCommandType, (job: JobSnapshot) => Transition>;
  for (const type of JOB_COMMAND_TYPES) row[type] = finished;
  return row as (typeof TABLE)['FAILED'];
}

/**
 * Whether a node's end decides its multi-node job's attempt for every node:
 * the main node's end always does; another node's only when it failed (a
 * worker node that exits 0 waits for the main node).
 */
export function decidesGang(nodeIndex: number, end: AttemptEnd): boolean {
  return nodeIndex === 0 || attemptOutcome(end).status === 'FAILED';
}

/** What `command` does to `job`: the one decision behind every status change. */
export function transition(job: JobSnapshot, command: JobCommand): Transition {
  const cell = TABLE[job.status][command.type] as Rule;
  return cell(job, command as never);
}

/**
 * Every status move some command can make, as `FROM>TO` pairs: what the
 * database trigger allows, derived from the table by exploring it.
 */
export function statusMoves(): string[] {
  const moves = new Set<string>();
  const probes: JobCommand[] = [
    { type: 'dependencies-succeeded' }, { type: 'dependency-failed', dependencyId: 'd' },
    { type: 'children-finished', size: 2, failed: 0 }, { type: 'children-finished', size: 2, failed: 1 },
    { type: 'container-started', attempt: 1, workerId: 'w', startedAt: new Date(0) },
    { type: 'attempt-ended', attempt: 1, stoppedAt: new Date(0), end: { kind: 'exited', exitCode: 0, oomKilled: false } },
    { type: 'attempt-ended', attempt: 1, stoppedAt: new Date(0), end: { kind: 'exited', exitCode: 1, oomKilled: false } },
    { type: 'cancel', reason: 'r' }, { type: 'terminate', reason: 'r' }, { type: 'preempt', by: 'j', graceSeconds: 30 },
    { type: 'attempt-ended', attempt: 1, stoppedAt: new Date(0), end: { kind: 'preempted', by: 'j', acknowledged: true, exitCode: 0 } },
    { type: 'attempt-ended', attempt: 1, stoppedAt: new Date(0), end: { kind: 'interrupted', acknowledged: false, exitCode: null } },
    { type: 'gang-ended', attempt: 1, stoppedAt: new Date(0), ownEnd: null, decidedBy: { nodeIndex: 0, end: { kind: 'exited', exitCode: 0, oomKilled: false } } },
    { type: 'gang-ended', attempt: 1, stoppedAt: new Date(0), ownEnd: null, decidedBy: { nodeIndex: 1, end: { kind: 'exited', exitCode: 1, oomKilled: false } } },
    { type: 'image-pulling', attempt: 1, workerId: 'w', image: 'i' },
  ];
  for (const status of JOB_STATUSES) {
    // Attempts left, and none left: a failure retries or ends the job.
    for (const [attemptCount, maxAttempts] of [[0, 3], [1, 3], [1, 1]]) {
      const job: JobSnapshot = { status, attemptCount, maxAttempts, retryRules: [], terminateReason: null };
      for (const c of [...probes, { type: 'place', workerId: 'w', gpuDevices: [] } as JobCommand]) {
        const t = transition(job, c);
        if (t.outcome === 'applied' && t.from !== t.to) moves.add(`${t.from}>${t.to}`);
      }
    }
  }
  return [...moves].sort();
}
