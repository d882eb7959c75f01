import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { substituteParameters } from '#libs/core';
import { JobAttemptEntity, JobEventEntity, type JobDefinitionEntity } from '#libs/db';
import type { Logger } from '#libs/log';
import { ApiError } from '../common/api-error.js';
import { decodeCursor, encodeCursor } from '../common/cursor.js';
import { IntakeQueues } from '../infra/intake-queues.js';
import { LOGGER } from '../infra/tokens.js';
import { JobDefinitionsService } from '../job-definitions/job-definitions.service.js';
import { JobQueuesService } from '../job-queues/job-queues.service.js';
import type { JobDetailView, JobListView, JobLogsView, JobSummaryView, SubmitJobResponse } from './dto/job.view.js';
import type { ListJobsQuery } from './dto/list-jobs.query.js';
import type { SubmitJobDto } from './dto/submit-job.dto.js';

const SUMMARY_COLUMNS = `id, name, queue, status, status_reason, priority, created_at, started_at, stopped_at,
  created_at::text AS created_at_exact`;

interface JobRow {
  id: string; name: string; queue: string; status: string; status_reason: string | null; priority: number;
  created_at: Date; started_at: Date | null; stopped_at: Date | null; created_at_exact: string;
}

@Injectable()
export class JobsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueuesService) private readonly queues: JobQueuesService,
    @Inject(JobDefinitionsService) private readonly definitions: JobDefinitionsService,
    @Inject(IntakeQueues) private readonly intake: IntakeQueues,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Commits the job (RUNNABLE, with its SUBMITTED and RUNNABLE events) in one
   * statement, then tells the scheduler through the queue's intake. The reply
   * comes only after the commit; if Redis is down the scheduler still finds
   * the job in Postgres.
   */
  async submit(dto: SubmitJobDto): Promise<SubmitJobResponse> {
    const queue = await this.queues.get(dto.queue);
    if (queue.state !== 'ENABLED') throw new ApiError('JOB_QUEUE_DISABLED', `job queue ${queue.name} is DISABLED`);
    const definition = await this.definitions.resolveRef(dto.definition);
    if (definition.status !== 'ACTIVE') {
      throw new ApiError('DEFINITION_INACTIVE', `job definition ${definition.name}:${definition.revision} is INACTIVE`);
    }
    const job = this.mergeJob(dto, definition);
    const id = randomUUID();
    const inserted: { job_id: string }[] = await this.db.query(
      `WITH job AS (
         INSERT INTO jobs (id, name, queue, definition_id, status, status_reason, priority, image, command, environment,
                           vcpus, memory_mib, gpus, gpu_model, label_selector, timeout_seconds, max_attempts, project, tags, client_token)
         VALUES ($1, $2, $3, $4, 'RUNNABLE', 'Waiting for the scheduler', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT (client_token) DO NOTHING
         RETURNING id, created_at)
       INSERT INTO job_events (job_id, at, from_status, to_status, reason)
       SELECT id, created_at, NULL, 'SUBMITTED', 'Job submitted' FROM job
       UNION ALL
       SELECT id, created_at, 'SUBMITTED', 'RUNNABLE', 'Waiting for the scheduler' FROM job
       RETURNING job_id`,
      [
        id, dto.name, queue.name, definition.id, job.priority, definition.image, JSON.stringify(job.command),
        JSON.stringify(job.environment), job.resources.vcpus, job.resources.memoryMiB, job.resources.gpus,
        job.resources.gpus > 0 ? job.resources.gpuModel : null, job.labelSelector, job.timeoutSeconds, job.maxAttempts, dto.project ?? 'default', JSON.stringify(dto.tags ?? {}), dto.clientToken ?? null,
      ],
    );
    if (inserted.length === 0) {
      // The client token was used before: answer with the job it created, as AWS Batch does.
      const [existing] = await this.db.query(`SELECT id, name FROM jobs WHERE client_token = $1`, [dto.clientToken]);
      return { jobId: existing.id, name: existing.name };
    }
    await this.intake.add(queue.name, id, job.priority).catch((err: Error) =>
      this.logger.warn({ err, jobId: id }, 'intake add failed; the scheduler will find the job in Postgres'),
    );
    return { jobId: id, name: dto.name };
  }

  private mergeJob(dto: SubmitJobDto, d: JobDefinitionEntity) {
    const { command, missing } = substituteParameters(dto.overrides?.command ?? d.command, dto.parameters ?? {}, d.parameters);
    if (missing.length > 0) {
      throw new ApiError('VALIDATION_FAILED', `parameters has no value for ${missing.map((m) => `Ref::${m}`).join(', ')} used in command`);
    }
    const r = dto.overrides?.resources;
    return {
      command,
      environment: { ...d.environment, ...dto.overrides?.environment },
      resources: {
        vcpus: r?.vcpus ?? d.vcpus, memoryMiB: r?.memoryMiB ?? d.memoryMiB, gpus: r?.gpus ?? d.gpus, gpuModel: r?.gpuModel ?? d.gpuModel,
      },
      labelSelector: dto.labelSelector ?? d.labelSelector,
      timeoutSeconds: dto.timeoutSeconds ?? d.timeoutSeconds,
      maxAttempts: dto.retryStrategy?.attempts ?? d.retryAttempts,
      priority: dto.priority ?? 0,
    };
  }

  /** Newest first, keyset-paged on (created_at, id). */
  async list(q: ListJobsQuery): Promise<JobListView> {
    const limit = q.limit ?? 100;
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.queue) where.push(`queue = $${params.push(q.queue)}`);
    if (q.status) where.push(`status = $${params.push(q.status)}`);
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      where.push(`(created_at, id) < ($${params.push(c.createdAt)}::timestamptz, $${params.push(c.id)})`);
    }
    const rows: JobRow[] = await this.db.query(
      `SELECT ${SUMMARY_COLUMNS} FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      jobs: page.map(toSummary),
      nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.created_at_exact, id: last.id }) : null,
    };
  }

  async describe(id: string): Promise<JobDetailView> {
    const [row] = await this.db.query(
      `SELECT j.*, j.created_at::text AS created_at_exact, d.name AS definition_name, d.revision AS definition_revision
       FROM jobs j JOIN job_definitions d ON d.id = j.definition_id WHERE j.id = $1`,
      [id],
    );
    if (!row) throw new ApiError('JOB_NOT_FOUND', `job ${id} does not exist`);
    const [attempts, events] = await Promise.all([
      this.db.getRepository(JobAttemptEntity).find({ where: { jobId: id }, order: { attempt: 'ASC' } }),
      this.db.getRepository(JobEventEntity).find({ where: { jobId: id }, order: { id: 'ASC' } }),
    ]);
    return {
      ...toSummary(row),
      definition: `${row.definition_name}:${row.definition_revision}`,
      image: row.image,
      command: row.command,
      environment: row.environment,
      resources: { vcpus: Number(row.vcpus), memoryMiB: row.memory_mib, gpus: row.gpus, gpuModel: row.gpu_model },
      labelSelector: row.label_selector,
      timeoutSeconds: row.timeout_seconds,
      retryStrategy: { attempts: row.max_attempts },
      project: row.project,
      tags: row.tags,
      attempts: attempts.map((a) => ({
        attempt: a.attempt, status: a.status, workerId: a.workerId, pool: a.pool, gpuDevices: a.gpuDevices,
        containerId: a.containerId, startedAt: iso(a.startedAt), stoppedAt: iso(a.stoppedAt), exitCode: a.exitCode, reason: a.reason,
      })),
      events: events.map((e) => ({ at: e.at.toISOString(), from: e.fromStatus, to: e.toStatus, reason: e.reason })),
    };
  }

  /** The stored output of one attempt (default: the latest). */
  async logs(id: string, attempt?: number): Promise<JobLogsView> {
    const [job] = await this.db.query(`SELECT attempt_count FROM jobs WHERE id = $1`, [id]);
    if (!job) throw new ApiError('JOB_NOT_FOUND', `job ${id} does not exist`);
    const which = attempt ?? (job.attempt_count > 0 ? job.attempt_count : null);
    if (which === null) return { jobId: id, attempt: null, lines: [] };
    if (which > job.attempt_count) throw new ApiError('NOT_FOUND', `job ${id} has no attempt ${which} (it has ${job.attempt_count})`);
    const lines: { stream: string; at: Date; text: string }[] = await this.db.query(
      `SELECT stream, at, text FROM job_logs WHERE job_id = $1 AND attempt = $2 ORDER BY id`, [id, which],
    );
    return { jobId: id, attempt: which, lines: lines.map((l) => ({ stream: l.stream, at: l.at.toISOString(), text: l.text })) };
  }
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

function toSummary(r: JobRow): JobSummaryView {
  return {
    jobId: r.id, name: r.name, queue: r.queue, status: r.status, statusReason: r.status_reason, priority: r.priority,
    createdAt: r.created_at.toISOString(), startedAt: iso(r.started_at), stoppedAt: iso(r.stopped_at),
  };
}
