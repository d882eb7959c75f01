import type { JobStatus } from './job-state.js';

/** How an attempt's container ended, as the worker observed it. */
export type AttemptEnd =
  | { kind: 'exited'; exitCode: number; oomKilled: boolean }
  | { kind: 'pull-failed'; message: string }
  | { kind: 'start-failed'; message: string };

export interface AttemptOutcome {
  /** Final status of this attempt. */
  status: Extract<JobStatus, 'SUCCEEDED' | 'FAILED'>;
  /** The reason a person reads (`statusReason`). */
  reason: string;
  exitCode: number | null;
}

/** Maps every way an attempt can end to its status and reason (AWS Batch wording). */
export function attemptOutcome(end: AttemptEnd): AttemptOutcome {
  switch (end.kind) {
    case 'exited':
      if (end.oomKilled) {
        return { status: 'FAILED', reason: 'OutOfMemoryError: Container killed due to memory usage', exitCode: end.exitCode };
      }
      if (end.exitCode === 0) return { status: 'SUCCEEDED', reason: 'Essential container exited with code 0', exitCode: 0 };
      return { status: 'FAILED', reason: `Essential container exited with code ${end.exitCode}`, exitCode: end.exitCode };
    case 'pull-failed':
      return { status: 'FAILED', reason: `CannotPullContainerError: ${end.message}`, exitCode: null };
    case 'start-failed':
      return { status: 'FAILED', reason: `CannotStartContainerError: ${end.message}`, exitCode: null };
    default:
      return assertExhaustive(end);
  }
}

export function assertExhaustive(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
