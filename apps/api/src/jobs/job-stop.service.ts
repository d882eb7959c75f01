import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { JobCommand } from '#libs/core';
import { applyCommands, applyInTransaction, type Applied } from '#libs/db';
import type { Logger } from '#libs/log';
import { WorkerQueues } from '#libs/queue';
import { ApiError } from '../common/api-error.js';
import { LOGGER } from '../infra/tokens.js';
import type { StopJobResponse } from './dto/stop-job.dto.js';

/**
 * Cancel and terminate, with AWS Batch's rules; neither is ever retried.
 * What each does in each status is the lifecycle table's to say: this
 * service sends the command through the lifecycle writer, then carries out
 * what the writer asks (stop the worker's container, tell the scheduler).
 */
@Injectable()
export class JobStopService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(WorkerQueues) private readonly channels: WorkerQueues,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Fails a job that has not started; a finished job is left as it is. On an array parent: its waiting children. */
  cancel(jobId: string, reason: string): Promise<StopJobResponse> {
    return this.stop(jobId, { type: 'cancel', reason });
  }

  /** Cancel, or for a STARTING/RUNNING job, stop its container; a finished job is left as it is. On an array parent: all its children. */
  terminate(jobId: string, reason: string): Promise<StopJobResponse> {
    return this.stop(jobId, { type: 'terminate', reason });
  }

  private async stop(jobId: string, command: Extract<JobCommand, { type: 'cancel' | 'terminate' }>): Promise<StopJobResponse> {
    const [job]: { array_size: number | null; node_index: number | null }[] = await this.db.query(`SELECT array_size, node_index FROM jobs WHERE id = $1`, [jobId]);
    if (!job) throw new ApiError('JOB_NOT_FOUND', `job ${jobId} does not exist`);
    if (job.array_size !== null) return this.stopChildren(jobId, command);
    if (job.node_index === 0) return this.stopNodes(jobId, command);
    const [applied] = await applyCommands(this.db, [{ jobId, command }]);
    const t = applied.transition;
    if (t.outcome === 'refused') throw new ApiError(t.code, `job ${jobId}: ${t.message}`);
    const stopping = await this.carryOut([applied]);
    return { jobId, status: (await this.status(jobId))!, ...(stopping ? { stopping } : {}) };
  }

  /**
   * Cancel or terminate on an array parent applies to its children: waiting
   * ones fail at once, running ones are stopped on terminate (cancel leaves
   * them be). The parent finishes (FAILED) once its last child has.
   */
  private async stopChildren(parentId: string, command: Extract<JobCommand, { type: 'cancel' | 'terminate' }>): Promise<StopJobResponse> {
    const children: { id: string }[] = await this.db.query(
      `SELECT id FROM jobs WHERE parent_id = $1 AND status NOT IN ('SUCCEEDED', 'FAILED') ORDER BY array_index`, [parentId],
    );
    const applied = await applyCommands(this.db, children.map((c) => ({ jobId: c.id, command })));
    const stopping = await this.carryOut(applied, parentId);
    return { jobId: parentId, status: (await this.status(parentId))!, ...(stopping ? { stopping } : {}) };
  }

  /**
   * Cancel or terminate on a multi-node job applies to all its nodes at once,
   * so that none is left waiting or running without the others. The main
   * node's answer (e.g. cancel refused once it started) is the caller's.
   */
  private async stopNodes(mainId: string, command: Extract<JobCommand, { type: 'cancel' | 'terminate' }>): Promise<StopJobResponse> {
    const nodes: { id: string }[] = await this.db.query(
      `SELECT id FROM jobs WHERE (id = $1 OR parent_id = $1) AND status NOT IN ('SUCCEEDED', 'FAILED') ORDER BY node_index`, [mainId],
    );
    const applied = await this.db.transaction(async (tx) => {
      const all = await applyInTransaction(tx, nodes.map((n) => ({ jobId: n.id, command })));
      const main = all.find((a) => a.jobId === mainId);
      // All or none: a cancel the main node refuses (it started) must not fail its other nodes.
      if (main?.transition.outcome === 'refused') throw new ApiError(main.transition.code, `job ${mainId}: ${main.transition.message}`);
      return all;
    });
    const stopping = await this.carryOut(applied, mainId);
    return { jobId: mainId, status: (await this.status(mainId))!, ...(stopping ? { stopping } : {}) };
  }

  /**
   * Asks the workers to stop what the lifecycle marked for stopping, and
   * tells the scheduler which jobs changed. An attempt no worker claimed yet
   * is withdrawn and ended here, through the writer. Returns whether a
   * container is being stopped.
   */
  private async carryOut(applied: Applied[], parentId?: string): Promise<boolean> {
    let stopping = false;
    for (const a of applied) {
      if (a.transition.outcome !== 'applied') continue;
      for (const effect of a.transition.effects) {
        if (effect.type !== 'stop-attempt') continue;
        const [attempt]: { worker_id: string }[] = await this.db.query(
          `SELECT worker_id FROM job_attempts WHERE job_id = $1 AND attempt = $2`, [a.jobId, effect.attempt],
        );
        const reason = (a.command as { reason: string }).reason;
        await this.channels.command(attempt.worker_id, { type: 'terminate', jobId: a.jobId, attempt: effect.attempt, reason });
        if (await this.channels.withdraw(attempt.worker_id, a.jobId, effect.attempt)) {
          // No worker ever claimed it, so none will report its end: the attempt ends here, never started.
          await applyCommands(this.db, [{
            jobId: a.jobId,
            command: { type: 'attempt-ended', attempt: effect.attempt, end: { kind: 'terminated', reason, exitCode: null }, stoppedAt: new Date() },
          }]);
        } else {
          stopping = true;
        }
        this.logger.info({ jobId: a.jobId, attempt: effect.attempt, workerId: attempt.worker_id }, 'terminate requested');
      }
    }
    const changed = parentId ?? applied.find((a) => a.transition.outcome === 'applied')?.jobId;
    if (changed) {
      // The scheduler drops what stopped waiting, frees withdrawn attempts and settles dependants; its sweep does if this is lost.
      await this.channels.report({ type: 'job-changed', jobId: changed }).catch((err: Error) =>
        this.logger.warn({ err, jobId: changed }, 'could not tell the scheduler; its sweep catches up'));
    }
    return stopping;
  }

  /** Acknowledges the running attempt's checkpoint for it: its worker writes the acknowledgement file. */
  async checkpointAck(jobId: string): Promise<{ jobId: string; attempt: number }> {
    const [row]: { status: string; attempt: number; worker_id: string | null }[] = await this.db.query(
      `SELECT j.status, j.attempt_count AS attempt, a.worker_id FROM jobs j LEFT JOIN job_attempts a ON a.job_id = j.id AND a.attempt = j.attempt_count
       WHERE j.id = $1`, [jobId],
    );
    if (!row) throw new ApiError('JOB_NOT_FOUND', `job ${jobId} does not exist`);
    if (row.status !== 'RUNNING' || !row.worker_id) throw new ApiError('INVALID_TRANSITION', `job ${jobId} is ${row.status}: only a RUNNING job acknowledges a checkpoint`);
    await this.channels.command(row.worker_id, { type: 'checkpoint-ack', jobId, attempt: row.attempt });
    return { jobId, attempt: row.attempt };
  }

  private async status(jobId: string): Promise<string | undefined> {
    const [row] = await this.db.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    return row?.status;
  }
}
