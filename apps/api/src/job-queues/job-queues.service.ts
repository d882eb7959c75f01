import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobQueueEntity } from '#libs/db';
import { ApiError } from '../common/api-error.js';
import { DEFAULT_PAGE_SIZE, decodeKeyCursor, toPage, type PageQuery } from '../common/page.js';
import { CatalogCache } from '../infra/catalog-cache.js';
import type { CreateJobQueueDto, UpdateJobQueueDto } from './dto/job-queue.dto.js';

@Injectable()
export class JobQueuesService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(CatalogCache) private readonly catalog: CatalogCache,
  ) {}

  async create(dto: CreateJobQueueDto): Promise<JobQueueEntity> {
    const rows: JobQueueEntity[] = await this.db.query(
      `INSERT INTO job_queues (name, priority, state, pools, scheduling_policy, prefer_spot_for_interruptible, preempt_lower_priority)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING name`,
      [dto.name, dto.priority, dto.state ?? 'ENABLED', dto.pools ?? [], dto.schedulingPolicy ?? 'FIFO', dto.preferSpotForInterruptible ?? false, dto.allowPreemption ?? false],
    );
    if (rows.length === 0) throw new ApiError('JOB_QUEUE_EXISTS', `job queue ${dto.name} already exists`);
    await this.catalog.changed();
    return this.get(dto.name);
  }

  /** Every queue, highest priority first: the AWS Batch API pages these itself. */
  async list(): Promise<JobQueueEntity[]> {
    return this.repo().find({ order: { priority: 'DESC', name: 'ASC' } });
  }

  /** One page in the order the scheduler serves them: highest priority first, then by name. */
  async page(q: PageQuery): Promise<{ rows: JobQueueEntity[]; nextCursor: string | null }> {
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    const after = decodeKeyCursor(q.cursor, ['number', 'string']);
    const query = this.repo().createQueryBuilder('q').orderBy('q.priority', 'DESC').addOrderBy('q.name', 'ASC').limit(limit + 1);
    if (after) query.where('(q.priority < :priority OR (q.priority = :priority AND q.name > :name))', { priority: after[0], name: after[1] });
    return toPage(await query.getMany(), limit, (r) => [r.priority, r.name]);
  }

  async get(name: string): Promise<JobQueueEntity> {
    const queue = await this.repo().findOneBy({ name });
    if (!queue) throw new ApiError('JOB_QUEUE_NOT_FOUND', `job queue ${name} does not exist`);
    return queue;
  }

  async update(name: string, dto: UpdateJobQueueDto): Promise<JobQueueEntity> {
    await this.get(name);
    const changes: Partial<JobQueueEntity> = {};
    if (dto.priority !== undefined) changes.priority = dto.priority;
    if (dto.state !== undefined) changes.state = dto.state;
    if (dto.pools !== undefined) changes.pools = dto.pools;
    if (dto.schedulingPolicy !== undefined) changes.schedulingPolicy = dto.schedulingPolicy;
    if (dto.preferSpotForInterruptible !== undefined) changes.preferSpotForInterruptible = dto.preferSpotForInterruptible;
    if (dto.allowPreemption !== undefined) changes.allowPreemption = dto.allowPreemption;
    if (Object.keys(changes).length > 0) {
      await this.repo().update({ name }, { ...changes, updatedAt: new Date() });
      await this.catalog.changed();
    }
    return this.get(name);
  }

  /** Like AWS Batch: a queue must be DISABLED and hold no unfinished job before it goes. */
  async delete(name: string): Promise<void> {
    const queue = await this.get(name);
    if (queue.state !== 'DISABLED') {
      throw new ApiError('JOB_QUEUE_IN_USE', `job queue ${name} must be DISABLED before it is deleted`);
    }
    const [{ count }] = await this.db.query(
      `SELECT count(*)::int AS count FROM jobs WHERE queue = $1 AND status NOT IN ('SUCCEEDED', 'FAILED')`, [name],
    );
    if (count > 0) throw new ApiError('JOB_QUEUE_IN_USE', `job queue ${name} still holds ${count} unfinished jobs`);
    await this.repo().delete({ name });
    await this.catalog.changed();
  }

  private repo() {
    return this.db.getRepository(JobQueueEntity);
  }
}
