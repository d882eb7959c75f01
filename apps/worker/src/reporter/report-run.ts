import type { Logger } from '#libs/log';
import type { AttemptExitedEvent } from '#libs/queue';
import type { RunHooks } from '../runner/container-runner.js';
import type { EventReporter } from './event-reporter.js';
import { workerMetrics } from '../metrics/worker-metrics.js';

export interface RunIdentity {
  jobId: string;
  attempt: number;
  workerId: string;
}

/**
 * Runs (or adopts) one attempt and reports it: RUNNING once it runs, its exit
 * before its container is removed, or a worker-error exit when Docker failed
 * midway (the scheduler would otherwise hold its resources for good).
 */
export async function reportRun(
  reporter: EventReporter,
  identity: RunIdentity,
  logger: Logger,
  run: (hooks: Pick<RunHooks, 'onRunning' | 'onExited' | 'onPulling'>) => Promise<AttemptExitedEvent>,
): Promise<void> {
  let exitHanded = false;
  try {
    await run({
      onPulling: (event) => reporter.report(event),
      onRunning: (event) => reporter.report(event),
      onExited: (event) => {
        exitHanded = true;
        return reporter.report(event);
      },
    });
  } catch (error) {
    if (exitHanded) throw error;
    workerMetrics.errors.inc({ kind: 'attempt' });
    logger.error({ err: error, jobId: identity.jobId, attempt: identity.attempt }, 'attempt failed inside the worker');
    await reporter.report({
      type: 'attempt-exited', jobId: identity.jobId, attempt: identity.attempt, workerId: identity.workerId, containerId: null,
      startedAt: null, stoppedAt: new Date().toISOString(),
      end: { kind: 'worker-error', message: (error as Error).message ?? String(error) }, logs: [], logsTruncated: false,
    });
  }
}
