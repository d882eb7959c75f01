import type { JobStatus } from './job-state.js';

/** How an attempt's container ended, as the worker observed it. */
export type AttemptEnd =
  | { kind: 'exited'; exitCode: number; oomKilled: boolean }
  | { kind: 'pull-failed'; message: string }
  | { kind: 'start-failed'; message: string }
  /** Stopped by the worker when `timeoutSeconds` ran out (SIGTERM, grace, SIGKILL). */
  | { kind: 'timeout'; timeoutSeconds: number; exitCode: number | null }
  /** Stopped on request (POST /jobs/{id}/terminate); `reason` is the caller's. */
  | { kind: 'terminated'; reason: string; exitCode: number | null }
  /** The worker stopped heart-beating while the attempt held resources. */
  | { kind: 'worker-lost'; workerId: string }
  /** The worker heart-beats but no longer lists the attempt: its container is gone. */
  | { kind: 'container-lost'; workerId: string; attempt: number }
  /** The worker could not see the attempt through (Docker failed after the start); the outcome is unknown. */
  | { kind: 'worker-error'; message: string }
  /** Stopped to make room for job `by` after the checkpoint handshake: acknowledged in time, or the grace ran out. */
  | { kind: 'preempted'; by: string; acknowledged: boolean; exitCode: number | null }
  /** Stopped because its (spot) worker is being reclaimed, after the same handshake, the notice's deadline as the grace. */
  | { kind: 'interrupted'; acknowledged: boolean; exitCode: number | null };

export interface AttemptOutcome {
  /** Final status of this attempt. */
  status: Extract<JobStatus, 'SUCCEEDED' | 'FAILED'>;
  /** The reason a person reads (`statusReason`). */
  reason: string;
  exitCode: number | null;
  /** Whether a failure may use the attempts left: not after a timeout or a terminate (AWS Batch rules). */
  retryable: boolean;
}

/** Maps every way an attempt can end to its status and reason (AWS Batch wording). */
export function attemptOutcome(end: AttemptEnd): AttemptOutcome {
  switch (end.kind) {
    case 'exited':
      if (end.oomKilled) {
        return { status: 'FAILED', reason: 'OutOfMemoryError: Container killed due to memory usage', exitCode: end.exitCode, retryable: true };
      }
      if (end.exitCode === 0) return { status: 'SUCCEEDED', reason: 'Essential container exited with code 0', exitCode: 0, retryable: false };
      return { status: 'FAILED', reason: `Essential container exited with code ${end.exitCode}`, exitCode: end.exitCode, retryable: true };
    case 'pull-failed':
      return { status: 'FAILED', reason: `CannotPullContainerError: ${end.message}`, exitCode: null, retryable: true };
    case 'start-failed':
      return { status: 'FAILED', reason: `CannotStartContainerError: ${end.message}`, exitCode: null, retryable: true };
    case 'timeout':
      return { status: 'FAILED', reason: 'Job attempt duration exceeded timeout', exitCode: end.exitCode, retryable: false };
    case 'terminated':
      return { status: 'FAILED', reason: end.reason, exitCode: end.exitCode, retryable: false };
    case 'worker-lost':
      return { status: 'FAILED', reason: `Worker lost: ${end.workerId}`, exitCode: null, retryable: true };
    case 'container-lost':
      return { status: 'FAILED', reason: `Container lost: worker ${end.workerId} no longer runs attempt ${end.attempt}`, exitCode: null, retryable: true };
    case 'worker-error':
      return { status: 'FAILED', reason: `WorkerError: ${end.message}`, exitCode: null, retryable: true };
    case 'preempted':
      return {
        status: 'FAILED', exitCode: end.exitCode, retryable: true,
        reason: `PREEMPTED: by job ${end.by} (${end.acknowledged ? 'checkpoint acknowledged' : 'not acknowledged within the grace period'})`,
      };
    case 'interrupted':
      return {
        status: 'FAILED', exitCode: end.exitCode, retryable: true,
        reason: `SPOT_INTERRUPTION: its worker is being reclaimed (${end.acknowledged ? 'checkpoint acknowledged' : 'not acknowledged before the deadline'})`,
      };
    default:
      return assertExhaustive(end);
  }
}

export function assertExhaustive(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
