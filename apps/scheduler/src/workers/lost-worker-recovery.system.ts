import type { DataSource } from 'typeorm';
import { decideDeparted } from '#libs/core';
import type { Logger } from '#libs/log';
import type { WorkerQueues } from '#libs/queue';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import type { AttemptEnder, AttemptEnding } from '../lifecycle/attempt-ender.js';
import type { ClusterState } from '../state/cluster-state.js';
import type { WorkerLivenessSystem } from './worker-liveness.system.js';
import type { WorkerRegistry } from './worker-registry.js';

/**
 * Fails the attempts of LOST workers, and of workers whose entry has been
 * gone past the timeout, with `Worker lost: <id>` (billed to the last
 * heartbeat), so they free what they held and retry. Idempotent: it acts on
 * whatever such workers still hold, so a new leader finishes what an old one
 * started. A worker that comes back is told to stop the attempts failed as lost.
 */
export class LostWorkerRecoverySystem implements SchedulerSystem {
  readonly name = 'lost-worker recovery';

  constructor(
    private readonly db: DataSource,
    private readonly state: ClusterState,
    private readonly registry: WorkerRegistry,
    private readonly liveness: WorkerLivenessSystem,
    private readonly dispatcher: WorkerQueues,
    private readonly ender: AttemptEnder,
    private readonly workerTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  async run(now: number): Promise<boolean> {
    const departed = new Set(decideDeparted(this.registry.left(), now, this.workerTimeoutMs, this.liveness.watchingSince()));
    const gone = [
      ...this.registry.lost(),
      ...this.registry.left().filter((w) => departed.has(w.workerId)).map((w) => ({ id: w.workerId, lastHeartbeatAt: w.leftAt })),
    ];
    let recovered = false;
    for (const worker of gone) {
      const attempts = this.state.heldOn(worker.id);
      if (attempts.length === 0) continue;
      const rows: { job_id: string; attempt: number; started_at: Date | null }[] = await this.db.query(
        `SELECT job_id, attempt, started_at FROM job_attempts WHERE worker_id = $1 AND status IN ('STARTING', 'RUNNING')`,
        [worker.id],
      );
      const ends: AttemptEnding[] = [];
      for (const a of attempts) {
        const startedAt = rows.find((r) => r.job_id === a.jobId && r.attempt === a.attempt)?.started_at ?? null;
        await this.dispatcher.withdraw(worker.id, a.jobId, a.attempt);
        ends.push({
          jobId: a.jobId, attempt: a.attempt, workerId: worker.id, startedAt,
          stoppedAt: new Date(Math.max(worker.lastHeartbeatAt, startedAt?.getTime() ?? 0)),
          end: { kind: 'worker-lost', workerId: worker.id },
        });
      }
      await this.ender.endAttempts(ends);
      this.logger.warn({ workerId: worker.id, attempts: attempts.length }, 'worker lost: its attempts failed and were freed');
      recovered = true;
    }
    for (const workerId of this.liveness.returned()) await this.stopAttemptsFailedAsLost(workerId);
    return recovered;
  }

  /** A LOST (or departed) worker came back: it must stop the containers of attempts already failed as lost, not report them. */
  private async stopAttemptsFailedAsLost(workerId: string): Promise<void> {
    const stale: { job_id: string; attempt: number }[] = await this.db.query(
      `SELECT job_id, attempt FROM job_attempts
       WHERE worker_id = $1 AND reason = $2 AND stopped_at > now() - interval '7 days'`,
      [workerId, `Worker lost: ${workerId}`],
    );
    for (const a of stale) {
      await this.dispatcher.command(workerId, { type: 'terminate', jobId: a.job_id, attempt: a.attempt, reason: `Worker lost: ${workerId}` });
    }
    if (stale.length) this.logger.warn({ workerId, attempts: stale.length }, 'worker is back: told it to stop attempts failed as lost');
  }
}
