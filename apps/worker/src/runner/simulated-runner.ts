import type { AttemptEnd } from '#libs/core';
import type { Logger } from '#libs/log';
import type { AttemptExitedEvent, DispatchPayload } from '#libs/queue';
import type { AttemptRunner, RunHooks } from './container-runner.js';
import { reportRunning, terminateReason } from './container-runner.js';

/** The job environment variables a simulated attempt obeys (the job's own, so a submit sets them per job). */
export const SIMULATED_DURATION_VAR = 'SIM_DURATION_MS';
export const SIMULATED_EXIT_CODE_VAR = 'SIM_EXIT_CODE';

/**
 * How long a simulated attempt runs and how it exits: SIM_DURATION_MS
 * (else `sleep <seconds>` as the command, else at once) and
 * SIM_EXIT_CODE (else 0).
 */
export function simulatedBehaviour(payload: Pick<DispatchPayload, 'command' | 'environment'>): { durationMs: number; exitCode: number } {
  const env = payload.environment ?? {};
  const fromEnv = Number(env[SIMULATED_DURATION_VAR]);
  const fromSleep = payload.command[0] === 'sleep' ? Number(payload.command[1]) * 1000 : NaN;
  const durationMs = Number.isFinite(fromEnv) && env[SIMULATED_DURATION_VAR] !== undefined ? fromEnv : Number.isFinite(fromSleep) ? fromSleep : 0;
  const exitCode = Number.parseInt(env[SIMULATED_EXIT_CODE_VAR] ?? '0', 10);
  return { durationMs: Math.max(0, durationMs), exitCode: Number.isInteger(exitCode) ? exitCode : 0 };
}

/**
 * Runs an attempt without Docker, for benchmarks of the control plane
 * (WORKER_RUNTIME=simulated): it reports RUNNING, waits the job's simulated
 * duration, and exits with its simulated code, obeying the timeout and
 * terminate as a container would. Everything around it (claim, lease,
 * reports, outbox, heartbeat, control) is the real worker's. Never a default.
 */
export class SimulatedRunner implements AttemptRunner {
  constructor(private readonly workerId: string, private readonly logger?: Logger) {}

  async run(payload: DispatchPayload, hooks: RunHooks): Promise<AttemptExitedEvent> {
    const containerId = `simulated-${payload.jobId}-${payload.attempt}`;
    const base = { type: 'attempt-exited' as const, jobId: payload.jobId, attempt: payload.attempt, workerId: this.workerId, logs: [], logsTruncated: false };
    if (hooks.signal?.aborted) {
      const exited: AttemptExitedEvent = {
        ...base, containerId: null, startedAt: null, stoppedAt: new Date().toISOString(),
        end: { kind: 'terminated', reason: terminateReason(hooks.signal), exitCode: null },
      };
      await hooks.onExited?.(exited);
      return exited;
    }
    const startedMs = Date.now();
    const startedAt = new Date(startedMs).toISOString();
    const reported = reportRunning(hooks, { type: 'attempt-running', jobId: payload.jobId, attempt: payload.attempt, workerId: this.workerId, containerId, startedAt }, this.logger);
    const { durationMs, exitCode } = simulatedBehaviour(payload);
    const timeoutMs = payload.timeoutSeconds === null ? Infinity : payload.timeoutSeconds * 1000;
    const end = await new Promise<AttemptEnd>((resolve) => {
      const finish = (e: AttemptEnd) => {
        clearTimeout(timer);
        hooks.signal?.removeEventListener('abort', onAbort);
        resolve(e);
      };
      const onAbort = () => finish({ kind: 'terminated', reason: terminateReason(hooks.signal!), exitCode: 143 });
      const timer = setTimeout(
        () => finish(durationMs > timeoutMs
          ? { kind: 'timeout', timeoutSeconds: payload.timeoutSeconds!, exitCode: 143 }
          : { kind: 'exited', exitCode, oomKilled: false }),
        Math.min(durationMs, timeoutMs),
      );
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      // Terminated while the RUNNING report was being handed over, before the listener was there.
      if (hooks.signal?.aborted) onAbort();
    });
    // A timer may fire a millisecond early by the wall clock: an attempt that ran its course ran at least its duration.
    const ranFor = end.kind === 'terminated' ? 0 : Math.min(durationMs, timeoutMs);
    const stoppedAt = new Date(Math.max(Date.now(), startedMs + ranFor)).toISOString();
    await reported;
    const exited: AttemptExitedEvent = { ...base, containerId, startedAt, stoppedAt, end };
    await hooks.onExited?.(exited);
    return exited;
  }
}
