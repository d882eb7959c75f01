import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { JobQueueEntity } from '#libs/db';
import type { Caller } from '../auth/caller.js';
import { ApiError } from '../common/api-error.js';
import { CreateJobQueueDto, UpdateJobQueueDto } from '../job-queues/dto/job-queue.dto.js';
import { JobQueuesService } from '../job-queues/job-queues.service.js';
import { PoolsService } from '../pools/pools.service.js';
import { arnOf, nameFrom } from './arns.js';
import { AwsInput, validated } from './aws-input.js';
import { page } from './paging.js';
import { checkTags } from './aws-tags.js';

export function requireOperate(caller: Caller): void {
  if (!caller.canEverywhere('operate')) throw new ApiError('FORBIDDEN', `this needs the operate right on every project, which ${caller.id} does not hold`);
}

/** CreateJobQueue, DescribeJobQueues, UpdateJobQueue, DeleteJobQueue over gpubatch's job queues (compute environments are pools). */
@Injectable()
export class AwsJobQueues {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueuesService) private readonly queues: JobQueuesService,
    @Inject(PoolsService) private readonly pools: PoolsService,
  ) {}

  async create(body: AwsInput, caller: Caller) {
    requireOperate(caller);
    body.refuse(['serviceEnvironmentOrder'], 'gpubatch queues are served by pools (computeEnvironmentOrder)');
    const tags = checkTags(body.map('tags') ?? {});
    const dto = await validated(CreateJobQueueDto, {
      name: body.string('jobQueueName', true),
      priority: body.integer('priority', 0, 10000, true),
      ...(body.has('state') ? { state: body.oneOf('state', ['ENABLED', 'DISABLED'] as const) } : {}),
      pools: await this.poolOrder(body),
      // AWS's fair share comes with a scheduling policy; gpubatch's FAIR_SHARE is across projects (shareIdentifier).
      schedulingPolicy: body.has('schedulingPolicyArn') ? 'FAIR_SHARE' : 'FIFO',
    }, 'CreateJobQueue');
    const q = await this.queues.create(dto);
    if (Object.keys(tags).length) await this.db.query(`UPDATE job_queues SET tags = $2 WHERE name = $1`, [q.name, JSON.stringify(tags)]);
    return { jobQueueName: q.name, jobQueueArn: arnOf.jobQueue(q.name) };
  }

  async describe(body: AwsInput) {
    const wanted = body.strings('jobQueues', 100)?.map((q) => nameFrom(q, 'job-queue', 'jobQueues'));
    let queues = await this.queues.list();
    if (wanted?.length) queues = queues.filter((q) => wanted.includes(q.name));
    const tags = await this.tags(queues.map((q) => q.name));
    const paged = page(queues, body.integer('maxResults', 1, 100), body.string('nextToken'));
    return { jobQueues: paged.items.map((q) => awsJobQueue(q, tags.get(q.name) ?? {})), ...(paged.nextToken ? { nextToken: paged.nextToken } : {}) };
  }

  async update(body: AwsInput, caller: Caller) {
    requireOperate(caller);
    const name = nameFrom(body.string('jobQueue', true), 'job-queue', 'jobQueue');
    const dto = await validated(UpdateJobQueueDto, {
      ...(body.has('priority') ? { priority: body.integer('priority', 0, 10000) } : {}),
      ...(body.has('state') ? { state: body.oneOf('state', ['ENABLED', 'DISABLED'] as const) } : {}),
      ...(body.has('computeEnvironmentOrder') ? { pools: await this.poolOrder(body) } : {}),
      ...(body.has('schedulingPolicyArn') ? { schedulingPolicy: 'FAIR_SHARE' } : {}),
    }, 'UpdateJobQueue');
    const q = await this.queues.update(name, dto);
    return { jobQueueName: q.name, jobQueueArn: arnOf.jobQueue(q.name) };
  }

  async delete(body: AwsInput, caller: Caller) {
    requireOperate(caller);
    await this.queues.delete(nameFrom(body.string('jobQueue', true), 'job-queue', 'jobQueue'));
    return {};
  }

  /** computeEnvironmentOrder as the queue's pools, in order; each must exist. */
  private async poolOrder(body: AwsInput): Promise<string[]> {
    const entries = (body.objects('computeEnvironmentOrder', 32) ?? []).map((e) => ({
      order: e.integer('order', 0, 2_147_483_647, true)!,
      pool: nameFrom(e.string('computeEnvironment', true), 'compute-environment', 'computeEnvironmentOrder.computeEnvironment'),
    }));
    entries.sort((a, b) => a.order - b.order);
    for (const e of entries) await this.pools.get(e.pool);
    return entries.map((e) => e.pool);
  }

  private async tags(names: string[]): Promise<Map<string, Record<string, string>>> {
    const rows: { name: string; tags: Record<string, string> }[] = await this.db.query(`SELECT name, tags FROM job_queues WHERE name = ANY($1)`, [names]);
    return new Map(rows.map((r) => [r.name, r.tags]));
  }
}

export function awsJobQueue(q: JobQueueEntity, tags: Record<string, string>) {
  return {
    jobQueueName: q.name,
    jobQueueArn: arnOf.jobQueue(q.name),
    state: q.state,
    status: 'VALID',
    statusReason: 'JobQueue Healthy',
    priority: q.priority,
    // An empty list: every pool serves the queue.
    computeEnvironmentOrder: q.pools.map((p, i) => ({ order: i + 1, computeEnvironment: arnOf.computeEnvironment(p) })),
    jobQueueType: 'EC2',
    tags,
  };
}
