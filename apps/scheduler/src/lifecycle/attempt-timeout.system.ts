import type { DataSource } from 'typeorm';
import { Cadence, decideTimeouts } from '#libs/core';
import type { Logger } from '#libs/log';
import { attemptKey } from '#libs/queue';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import type { WorkerLivenessSystem } from '../workers/worker-liveness.system.js';
import type { AttemptEnder } from './attempt-ender.js';

const CHECK_EVERY_MS = 2000;
// The candidates are read by the scheduler's clock, the decision uses the worker's: this much skew is allowed for.
const CLOCK_SKEW_ALLOWANCE_SECONDS = 3600;

/**
 * Ends RUNNING attempts past their timeout plus a grace whose worker has
 * stopped reporting on them (silent, gone, or no longer listing them): FAILED
 * as timed out, not retried, as if the worker had stopped them. The worker
 * normally does this itself; this is for when it cannot.
 */
export class AttemptTimeoutSystem implements SchedulerSystem {
  readonly name = 'attempt timeouts';
  private readonly cadence: Cadence;

  constructor(
    private readonly db: DataSource,
    private readonly liveness: WorkerLivenessSystem,
    private readonly ender: AttemptEnder,
    private readonly config: { timeoutGraceSeconds: number; attemptGraceMs: number },
    startedAt: number,
    private readonly logger: Logger,
  ) {
    this.cadence = new Cadence(CHECK_EVERY_MS, startedAt);
  }

  async run(now: number): Promise<boolean> {
    if (!this.cadence.due(now)) return false;
    const rows: { job_id: string; attempt: number; worker_id: string; started_at: Date; timeout_seconds: number }[] = await this.db.query(
      `SELECT a.job_id, a.attempt, a.worker_id, a.started_at, j.timeout_seconds
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id
       WHERE a.status = 'RUNNING' AND j.timeout_seconds IS NOT NULL AND a.started_at IS NOT NULL
         AND a.started_at < $1::timestamptz - make_interval(secs => (j.timeout_seconds + $2::int - $3::int)::float8)`,
      [new Date(now), this.config.timeoutGraceSeconds, CLOCK_SKEW_ALLOWANCE_SECONDS],
    );
    if (rows.length === 0) return false;
    const byKey = new Map(rows.map((r) => [attemptKey(r.job_id, r.attempt), r]));
    const timedOut = decideTimeouts(
      rows.map((r) => ({ workerId: r.worker_id, key: attemptKey(r.job_id, r.attempt), startedAt: r.started_at.getTime(), timeoutSeconds: r.timeout_seconds })),
      this.liveness.sightings, now, this.config.timeoutGraceSeconds * 1000, this.config.attemptGraceMs, this.liveness.watchingSince(),
    );
    if (timedOut.length === 0) return false;
    await this.ender.endAttempts(timedOut.map((t) => {
      const r = byKey.get(t.key)!;
      return {
        jobId: r.job_id, attempt: r.attempt, workerId: r.worker_id, startedAt: r.started_at, stoppedAt: new Date(t.stoppedAt),
        end: { kind: 'timeout' as const, timeoutSeconds: r.timeout_seconds, exitCode: null },
      };
    }));
    this.logger.warn({ attempts: timedOut.map((t) => t.key) }, 'attempts past their timeout whose workers stopped reporting on them: failed as timed out');
    return true;
  }
}
