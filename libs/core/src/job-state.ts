/** Job states, named as in AWS Batch so its users feel at home. */
export const JOB_STATUSES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED'];
/** States in which a job holds resources on a worker. */
export const ACTIVE_STATUSES: readonly JobStatus[] = ['STARTING', 'RUNNING'];

const TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  SUBMITTED: ['PENDING', 'RUNNABLE', 'FAILED'],
  // PENDING -> SUCCEEDED: an array parent, which never runs itself, finishes with its children.
  PENDING: ['RUNNABLE', 'FAILED', 'SUCCEEDED'],
  RUNNABLE: ['STARTING', 'FAILED'],
  // STARTING -> RUNNABLE / RUNNING -> RUNNABLE: a failed attempt with attempts left.
  STARTING: ['RUNNING', 'SUCCEEDED', 'FAILED', 'RUNNABLE'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'RUNNABLE'],
  SUCCEEDED: [],
  FAILED: [],
};

export class InvalidTransitionError extends Error {
  constructor(readonly from: JobStatus, readonly to: JobStatus) {
    super(`invalid job state transition ${from} -> ${to}`);
    this.name = 'InvalidTransitionError';
  }
}

/** Whether the state machine allows moving from `from` to `to`. */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws InvalidTransitionError unless `from -> to` is allowed. */
export function assertTransition(from: JobStatus, to: JobStatus): void {
  if (!canTransition(from, to)) throw new InvalidTransitionError(from, to);
}

/** The states a job may be in just before entering `to` (for guarded SQL updates). */
export function statusesBefore(to: JobStatus): JobStatus[] {
  return JOB_STATUSES.filter((from) => TRANSITIONS[from].includes(to));
}

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
