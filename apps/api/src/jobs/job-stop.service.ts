import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Logger } from '#libs/log';
import { WorkerQueues } from '#libs/queue';
import { ApiError } from '../common/api-error.js';
import { LOGGER } from '../infra/tokens.js';
import type { StopJobResponse } from './dto/stop-job.dto.js';

const WAITING = ['SUBMITTED', 'PENDING', 'RUNNABLE'];

/** Cancel and terminate, with AWS Batch's rules; neither is ever retried. */
@Injectable()
export class JobStopService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(WorkerQueues) private readonly channels: WorkerQueues,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Fails a job that has not started; a finished job is left as it is. On an array parent: its waiting children. */
  async cancel(jobId: string, reason: string): Promise<StopJobResponse> {
    if (await this.isArrayParent(jobId)) return this.stopChildren(jobId, reason, false);
    const status = await this.failIfWaiting(jobId, reason);
    if (status === 'STARTING' || status === 'RUNNING') {
      throw new ApiError('JOB_NOT_CANCELLABLE', `job ${jobId} is ${status}; cancel only stops jobs that have not started, use terminate`);
    }
    return { jobId, status };
  }

  /** Cancel, or for a STARTING/RUNNING job, stop its container; a finished job is left as it is. On an array parent: all its children. */
  async terminate(jobId: string, reason: string): Promise<StopJobResponse> {
    if (await this.isArrayParent(jobId)) return this.stopChildren(jobId, reason, true);
    const status = await this.failIfWaiting(jobId, reason);
    if (status !== 'STARTING' && status !== 'RUNNING') return { jobId, status };
    return this.stopRunning(jobId, status, reason);
  }

  /** Sends terminate to the worker holding the job's attempt (or withdraws it if no worker claimed it yet). */
  private async stopRunning(jobId: string, status: string, reason: string): Promise<StopJobResponse> {

    const [attempt] = await this.db.query(
      `SELECT a.attempt, a.worker_id FROM job_attempts a JOIN jobs j ON j.id = a.job_id AND j.attempt_count = a.attempt
       WHERE a.job_id = $1 AND a.status IN ('STARTING', 'RUNNING')`,
      [jobId],
    );
    if (!attempt) return { jobId, status: (await this.status(jobId)) ?? status };
    // Recorded first: however this attempt now ends (even with its worker lost), the job is not retried.
    await this.db.query(`UPDATE jobs SET terminate_reason = $2 WHERE id = $1 AND status IN ('STARTING', 'RUNNING')`, [jobId, reason]);
    await this.channels.command(attempt.worker_id, { type: 'terminate', jobId, attempt: attempt.attempt, reason });
    if (await this.channels.withdraw(attempt.worker_id, jobId, attempt.attempt)) {
      // No worker ever claimed it: report its end on the worker's behalf so the scheduler frees its resources.
      await this.channels.report({
        type: 'attempt-exited', jobId, attempt: attempt.attempt, workerId: attempt.worker_id, containerId: null,
        startedAt: null, stoppedAt: new Date().toISOString(), end: { kind: 'terminated', reason, exitCode: null },
        logs: [], logsTruncated: false,
      });
    }
    this.logger.info({ jobId, attempt: attempt.attempt, workerId: attempt.worker_id }, 'terminate requested');
    return { jobId, status, stopping: true };
  }

  private async isArrayParent(jobId: string): Promise<boolean> {
    const [row] = await this.db.query(`SELECT array_size FROM jobs WHERE id = $1`, [jobId]);
    if (!row) throw new ApiError('JOB_NOT_FOUND', `job ${jobId} does not exist`);
    return row.array_size !== null;
  }

  /**
   * Cancel or terminate on an array parent applies to its children: waiting
   * ones fail at once, running ones are stopped when `terminate`. The parent
   * finishes (FAILED) once its last child has.
   */
  private async stopChildren(parentId: string, reason: string, terminate: boolean): Promise<StopJobResponse> {
    await this.db.query(
      `WITH prev AS (SELECT id, status FROM jobs WHERE parent_id = $1 AND status = ANY($3) FOR UPDATE),
       upd AS (
         UPDATE jobs j SET status = 'FAILED', status_reason = $2, stopped_at = clock_timestamp(), updated_at = clock_timestamp()
         FROM prev WHERE j.id = prev.id RETURNING j.id, prev.status AS from_status)
       INSERT INTO job_events (job_id, from_status, to_status, reason)
       SELECT id, from_status, 'FAILED', $2 FROM upd`,
      [parentId, reason, WAITING],
    );
    let stopping = false;
    if (terminate) {
      const active: { id: string; status: string }[] = await this.db.query(
        `SELECT id, status FROM jobs WHERE parent_id = $1 AND status IN ('STARTING', 'RUNNING')`, [parentId],
      );
      for (const child of active) await this.stopRunning(child.id, child.status, reason);
      stopping = active.length > 0;
    }
    await this.channels.report({ type: 'job-changed', jobId: parentId }).catch((err: Error) =>
      this.logger.warn({ err, jobId: parentId }, 'could not tell the scheduler; its sweep settles the array'));
    const status = (await this.status(parentId))!;
    return { jobId: parentId, status, ...(stopping ? { stopping } : {}) };
  }

  /** Fails the job if it is still waiting and returns its status after that; 404 when it does not exist. */
  private async failIfWaiting(jobId: string, reason: string): Promise<string> {
    const failed: { from_status: string }[] = await this.db.query(
      `WITH prev AS (SELECT id, status FROM jobs WHERE id = $1 AND status = ANY($3) FOR UPDATE),
       upd AS (
         UPDATE jobs j SET status = 'FAILED', status_reason = $2, stopped_at = clock_timestamp(), updated_at = clock_timestamp()
         FROM prev WHERE j.id = prev.id RETURNING prev.status AS from_status),
       ev AS (INSERT INTO job_events (job_id, from_status, to_status, reason) SELECT $1, from_status, 'FAILED', $2 FROM upd)
       SELECT from_status FROM upd`,
      [jobId, reason, WAITING],
    );
    if (failed.length > 0) {
      await this.channels.report({ type: 'job-changed', jobId }).catch((err: Error) =>
        this.logger.warn({ err, jobId }, 'could not tell the scheduler; its sweep drops the job'));
      return 'FAILED';
    }
    const status = await this.status(jobId);
    if (!status) throw new ApiError('JOB_NOT_FOUND', `job ${jobId} does not exist`);
    return status;
  }

  private async status(jobId: string): Promise<string | undefined> {
    const [row] = await this.db.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    return row?.status;
  }
}
