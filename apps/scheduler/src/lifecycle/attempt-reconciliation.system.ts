import type { DataSource } from 'typeorm';
import { decideStrandedAttempts, OrphanedAttempts } from '#libs/core';
import type { Logger } from '#libs/log';
import { JobIds, QueueNames, type WorkerQueues } from '#libs/queue';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import { parseAttemptKey, type ClusterState } from '../state/cluster-state.js';
import type { WorkerLivenessSystem } from '../workers/worker-liveness.system.js';
import type { AttemptEnder, AttemptEnding } from './attempt-ender.js';

// States of a dispatch entry no worker has claimed yet.
const UNCLAIMED = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);

/**
 * Holds the leader's model and the workers' heartbeats to each other. An
 * attempt a live worker has stopped listing (after a grace) is failed as
 * `Container lost` and may retry; a worker that lists an attempt that is not
 * active on it is told to stop that container.
 */
export class AttemptReconciliationSystem implements SchedulerSystem {
  readonly name = 'attempt reconciliation';
  private readonly orphans: OrphanedAttempts;

  constructor(
    private readonly db: DataSource,
    private readonly state: ClusterState,
    private readonly liveness: WorkerLivenessSystem,
    private readonly dispatcher: WorkerQueues,
    private readonly ender: AttemptEnder,
    private readonly config: { attemptGraceMs: number; terminateRepeatMs: number },
    private readonly logger: Logger,
  ) {
    this.orphans = new OrphanedAttempts(config.attemptGraceMs, config.terminateRepeatMs);
  }

  async run(now: number): Promise<boolean> {
    const lost = this.liveness.lost();
    const held = this.state.workersHolding().flatMap((workerId) => this.state.heldOn(workerId).map((a) => ({ ...a, workerId })));
    const stranded = decideStrandedAttempts(held, this.liveness.sightings, this.config.attemptGraceMs, this.liveness.watchingSince(), lost);
    const ended = stranded.length ? await this.endStranded(stranded) : 0;

    const live = this.liveness.sightings.all().filter((s) => !lost.has(s.workerId));
    for (const { workerId, key } of this.orphans.decide(live, (w, k) => this.state.holds(w, k), now)) {
      const { jobId, attempt } = parseAttemptKey(key);
      await this.dispatcher.command(workerId, { type: 'terminate', jobId, attempt, reason: `Attempt ${attempt} of job ${jobId} is not active on worker ${workerId}` });
      this.logger.warn({ workerId, jobId, attempt }, 'worker lists an attempt that is not active on it: told it to stop the container');
    }
    return ended > 0;
  }

  private async endStranded(stranded: ReturnType<typeof decideStrandedAttempts>): Promise<number> {
    const rows: { job_id: string; attempt: number; worker_id: string; started_at: Date | null }[] = await this.db.query(
      `SELECT a.job_id, a.attempt, a.worker_id, a.started_at
       FROM job_attempts a JOIN unnest($1::text[], $2::int[], $3::text[]) AS s(job_id, attempt, worker_id)
         ON a.job_id = s.job_id AND a.attempt = s.attempt AND a.worker_id = s.worker_id
       WHERE a.status IN ('STARTING', 'RUNNING')`,
      [stranded.map((s) => parseAttemptKey(s.key).jobId), stranded.map((s) => parseAttemptKey(s.key).attempt), stranded.map((s) => s.workerId)],
    );
    const ends: AttemptEnding[] = [];
    for (const s of stranded) {
      const { jobId, attempt } = parseAttemptKey(s.key);
      const row = rows.find((r) => r.job_id === jobId && r.attempt === attempt && r.worker_id === s.workerId);
      if (!row || (await this.claimNotListedYet(s.workerId, jobId, attempt)) || (await this.exitReportQueued(jobId, attempt))) continue;
      ends.push({
        jobId, attempt, workerId: s.workerId, startedAt: row.started_at,
        stoppedAt: new Date(Math.max(s.lastHeldAt, row.started_at?.getTime() ?? 0)),
        end: { kind: 'container-lost', workerId: s.workerId, attempt },
      });
    }
    if (ends.length === 0) return 0;
    await this.ender.endAttempts(ends);
    this.logger.warn({ attempts: ends.map((e) => [e.workerId, e.jobId, e.attempt]) }, 'workers no longer run these attempts: failed as container lost');
    return ends.length;
  }

  /**
   * The worker cannot list the attempt yet: its dispatch entry is still queued
   * (the worker is busy), or is claimed under a lock its current process holds
   * but has not got to (a busy event loop takes seconds between taking the lock
   * and running the claim). A lock left by an earlier process of the worker
   * does not count: that process is gone and so is its container.
   */
  private async claimNotListedYet(workerId: string, jobId: string, attempt: number): Promise<boolean> {
    const entry = await this.dispatcher.dispatchEntry(workerId, jobId, attempt);
    if (!entry) return false;
    if (UNCLAIMED.has(entry.state)) return true;
    const claimer = this.liveness.sightings.get(workerId)?.claimer;
    return claimer !== undefined && entry.lockToken?.startsWith(`${claimer}:`) === true;
  }

  /** The worker reported its exit and stopped listing it; the report waits to be recorded and must win. */
  private async exitReportQueued(jobId: string, attempt: number): Promise<boolean> {
    return (await this.dispatcher.queue(QueueNames.events).getJob(JobIds.event(jobId, attempt, 'exited'))) !== undefined;
  }
}
