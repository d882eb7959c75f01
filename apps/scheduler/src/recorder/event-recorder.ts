import type { DataSource, EntityManager } from 'typeorm';
import { attemptOutcome, shouldRetry, type AttemptEnd, type AttemptOutcome } from '#libs/core';
import type { Logger } from '#libs/log';
import { settleDependants } from '#libs/db';
import type { AttemptExitedEvent, AttemptRunningEvent, WorkerEvent } from '#libs/queue';
import { ClusterState } from '../state/cluster-state.js';
import { loadRunnable } from '../reconciler/rebuild.js';
import { openUsage, settleUsage } from '../billing/metering.js';

/**
 * Records what workers report into Postgres. Every write is guarded by the
 * state it expects, so a report that arrives twice changes nothing the
 * second time (and bills nothing twice).
 */
export class EventRecorder {
  constructor(
    private readonly db: DataSource,
    private readonly state: ClusterState,
    private readonly onChange: () => void,
    private readonly logger: Logger,
  ) {}

  async record(event: WorkerEvent): Promise<void> {
    switch (event.type) {
      case 'attempt-running':
        return this.running(event);
      case 'attempt-exited':
        return this.exited(event);
      case 'worker-changed':
        return this.onChange();
      case 'job-changed': {
        // Cancelled in Postgres by the API (an array parent: with its children): they must not wait, reserve
        // or be placed any more, and what depends on them fails.
        const stopped: { id: string }[] = await this.db.query(
          `SELECT id FROM jobs WHERE (id = $1 OR parent_id = $1) AND status <> 'RUNNABLE'`, [event.jobId],
        );
        for (const { id } of stopped) {
          this.state.runnable.delete(id);
          this.state.reasons.delete(id);
        }
        await this.settle(stopped.map((r) => r.id));
        return this.onChange();
      }
    }
  }

  private async running(e: AttemptRunningEvent): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [{ started }] = await tx.query(
        `WITH a AS (
           UPDATE job_attempts SET status = 'RUNNING', started_at = $3, container_id = $4
           WHERE job_id = $1 AND attempt = $2 AND status = 'STARTING' RETURNING job_id),
         j AS (
           UPDATE jobs SET status = 'RUNNING', status_reason = 'Running on worker ' || $5,
                  started_at = COALESCE(started_at, $3), updated_at = clock_timestamp()
           WHERE id = $1 AND attempt_count = $2 AND status = 'STARTING' AND EXISTS (SELECT 1 FROM a) RETURNING id),
         e AS (
           INSERT INTO job_events (job_id, at, from_status, to_status, reason)
           SELECT id, $3, 'STARTING', 'RUNNING', 'Container started on worker ' || $5 FROM j)
         SELECT count(*)::int AS started FROM a`,
        [e.jobId, e.attempt, new Date(e.startedAt), e.containerId, e.workerId],
      );
      // The meter runs from the container's real start, at the rates of that moment; its exit settles it.
      if (started) await openUsage(tx, e.jobId, e.attempt, new Date(e.startedAt));
    });
  }

  private async exited(e: AttemptExitedEvent): Promise<void> {
    const outcome = attemptOutcome(e.end);
    const startedAt = e.startedAt ? new Date(e.startedAt) : null;
    const stoppedAt = new Date(e.stoppedAt);
    let finished = false;
    const retry = await this.db.transaction(async (tx) => {
      // Wrapped in a CTE: TypeORM returns [rows, count] for a bare UPDATE but plain rows for a SELECT.
      const [attempt] = await tx.query(
        `WITH a AS (
           UPDATE job_attempts SET status = $3, started_at = COALESCE(started_at, $4), stopped_at = $5, exit_code = $6,
                  reason = $7, container_id = COALESCE(container_id, $8)
           WHERE job_id = $1 AND attempt = $2 AND status IN ('STARTING', 'RUNNING')
           RETURNING started_at)
         SELECT * FROM a`,
        [e.jobId, e.attempt, outcome.status, startedAt, stoppedAt, outcome.exitCode, outcome.reason, e.containerId],
      );
      if (!attempt) return false; // already recorded: a repeated report
      // Billed once: only this guarded update gets here, and only a running usage row is settled.
      // The meter is normally open since the start report; an exit reported without one opens it here.
      if (attempt.started_at && !(await settleUsage(tx, e.jobId, e.attempt, stoppedAt))) {
        await openUsage(tx, e.jobId, e.attempt, attempt.started_at);
        await settleUsage(tx, e.jobId, e.attempt, stoppedAt);
      }
      await insertLogs(tx, e);
      const next = await this.finishJob(tx, e, outcome);
      finished = next === 'SUCCEEDED' || next === 'FAILED';
      return next === 'RUNNABLE';
    });
    this.state.release(e.workerId, ClusterState.attemptKey(e.jobId, e.attempt));
    if (retry) await loadRunnable(this.db, this.state, [e.jobId]);
    if (finished) await this.settle([e.jobId]);
    this.onChange();
  }

  /** Wakes or fails the jobs that depend on jobs that just finished. */
  private async settle(finished: string[]): Promise<void> {
    const runnable = await settleDependants(this.db, finished);
    if (runnable.length) await loadRunnable(this.db, this.state, runnable);
  }

  /** Moves the job on: SUCCEEDED, FAILED, or back to RUNNABLE while attempts remain. Returns the new status, if any. */
  private async finishJob(tx: EntityManager, e: AttemptExitedEvent, outcome: AttemptOutcome): Promise<string | undefined> {
    const [job] = await tx.query(
      `SELECT status, attempt_count, max_attempts, retry_rules, terminate_reason FROM jobs WHERE id = $1 FOR UPDATE`, [e.jobId],
    );
    if (!job || job.attempt_count !== e.attempt || !['STARTING', 'RUNNING'].includes(job.status)) return undefined;
    // A terminate was asked for: whatever ended the attempt, it is final and the caller's reason stands.
    const end: AttemptEnd = job.terminate_reason && e.end.kind !== 'terminated' && outcome.status === 'FAILED'
      ? { kind: 'terminated', reason: job.terminate_reason, exitCode: outcome.exitCode }
      : e.end;
    if (end !== e.end) outcome = attemptOutcome(end);
    const retry = shouldRetry({ end, outcome, attempt: e.attempt, maxAttempts: job.max_attempts, rules: job.retry_rules });
    const next = retry ? 'RUNNABLE' : outcome.status;
    const reason = retry
      ? `Attempt ${e.attempt} failed (${outcome.reason}); retrying, attempt ${e.attempt + 1} of ${job.max_attempts}`
      : outcome.reason;
    await tx.query(
      `UPDATE jobs SET status = $2::varchar, status_reason = $3, updated_at = clock_timestamp(),
              stopped_at = CASE WHEN $2::varchar IN ('SUCCEEDED', 'FAILED') THEN $4::timestamptz ELSE NULL END
       WHERE id = $1`,
      [e.jobId, next, reason, new Date(e.stoppedAt)],
    );
    await tx.query(
      `INSERT INTO job_events (job_id, at, from_status, to_status, reason) VALUES ($1, $2, $3, $4, $5)`,
      [e.jobId, new Date(e.stoppedAt), job.status, next, reason],
    );
    if (!retry) this.logger.info({ jobId: e.jobId, status: next, reason }, 'job finished');
    return next;
  }
}

async function insertLogs(tx: EntityManager, e: AttemptExitedEvent): Promise<void> {
  if (e.logs.length === 0) return;
  await tx.query(
    `INSERT INTO job_logs (job_id, attempt, stream, at, text)
     SELECT $1, $2, l.stream, l.at, l.text FROM unnest($3::text[], $4::timestamptz[], $5::text[]) AS l(stream, at, text)`,
    [e.jobId, e.attempt, e.logs.map((l) => l.stream), e.logs.map((l) => l.at), // Postgres text cannot hold NUL bytes; a binary-spewing job must not lose its exit record.
      e.logs.map((l) => l.text.replaceAll('\u0000', ''))],
  );
}
