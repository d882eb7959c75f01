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
  /** The scheduler placed the job on `workerId` with these GPUs: its next attempt. */
  | { type: 'place'; workerId: string; gpuDevices: number[] }
  /** The attempt's worker is pulling its image: only the reason changes, the job stays STARTING. */
  | { type: 'image-pulling'; attempt: number; workerId: string; image: string }
  /** The attempt's container really started at `startedAt`. */
  | { type: 'container-started'; attempt: number; workerId: string; startedAt: Date }
  /** The attempt ended, however: a worker's exit report, or the scheduler's verdict (worker lost, timeout, container lost). */
  | { type: 'attempt-ended'; attempt: number; end: AttemptEnd; stoppedAt: Date }
  /** AWS Batch CancelJob: fails a job that has not started. */
  | { type: 'cancel'; reason: string }
  /** AWS Batch TerminateJob: fails a waiting job, or stops the running attempt; never retried. */
  | { type: 'terminate'; reason: string };

export type JobCommandType = JobCommand['type'];
export const JOB_COMMAND_TYPES: readonly JobCommandType[] = [
  'dependencies-succeeded', 'dependency-failed', 'children-finished', 'place', 'image-pulling', 'container-started', 'attempt-ended', 'cancel', 'terminate',
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
}

/** What the writer must do beyond the status and the event row. */
export type Effect =
  /** Open the attempt row (STARTING) with its worker and GPU devices. */
  | { type: 'open-attempt'; attempt: number; workerId: string; gpuDevices: number[] }
  /** Mark the attempt RUNNING from the container's real start; the meter opens then. */
  | { type: 'attempt-running'; attempt: number; startedAt: Date }
  /** Close the attempt with its own status, exit code and reason; the meter settles then. */
  | { type: 'close-attempt'; attempt: number; status: 'SUCCEEDED' | 'FAILED'; exitCode: number | null; reason: string; stoppedAt: Date }
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
  const retry = shouldRetry({ end, outcome, attempt: c.attempt, maxAttempts: job.maxAttempts, rules: job.retryRules });
  const close: Effect = { type: 'close-attempt', attempt: c.attempt, status: happened.status, exitCode: happened.exitCode, reason: happened.reason, stoppedAt: c.stoppedAt };
  return {
    outcome: 'applied', from: job.status, to: retry ? 'RUNNABLE' : outcome.status, at: c.stoppedAt, effects: [close],
    reason: retry ? `Attempt ${c.attempt} failed (${outcome.reason}); retrying, attempt ${c.attempt + 1} of ${job.maxAttempts}` : outcome.reason,
  };
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
  },
  RUNNABLE: {
    'dependencies-succeeded': () => ignored('already runnable'),
    'dependency-failed': () => ignored('its dependencies were met before'),
    'children-finished': (job) => refused(job, 'children-finished'),
    place: (job, c) => ({
      outcome: 'applied', from: job.status, to: 'STARTING', reason: `Placed on worker ${c.workerId}`,
      effects: [{ type: 'open-attempt', attempt: job.attemptCount + 1, workerId: c.workerId, gpuDevices: c.gpuDevices }],
    }),
    // Reports of an attempt that already ended (a retry is waiting): late or repeated.
    'image-pulling': () => ignored('the attempt already ended'),
    'container-started': () => ignored('the attempt already ended'),
    'attempt-ended': () => ignored('the attempt already ended'),
    cancel: (job, c) => fail(job, c.reason),
    terminate: (job, c) => fail(job, c.reason),
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

/** Terminal states never change: every command is a late or repeated one. */
function terminalRow(): (typeof TABLE)['FAILED'] {
  const row = {} as Record<JobCommandType, (job: JobSnapshot) => Transition>;
  for (const type of JOB_COMMAND_TYPES) row[type] = finished;
  return row as (typeof TABLE)['FAILED'];
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
    { type: 'cancel', reason: 'r' }, { type: 'terminate', reason: 'r' },
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
