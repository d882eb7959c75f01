import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { PoolEntity } from '#libs/db';
import type { Caller } from '../auth/caller.js';
import { ApiError } from '../common/api-error.js';
import { CreatePoolDto, UpdatePoolDto } from '../pools/dto/pool.dto.js';
import { PoolsService } from '../pools/pools.service.js';
import { arnOf, nameFrom } from './arns.js';
import { AwsInput, validated } from './aws-input.js';
import { requireOperate } from './aws-job-queues.js';
import { page } from './paging.js';
import { checkTags } from './aws-tags.js';

const CAPACITY: Record<string, 'ON_DEMAND' | 'SPOT'> = { EC2: 'ON_DEMAND', FARGATE: 'ON_DEMAND', SPOT: 'SPOT', FARGATE_SPOT: 'SPOT' };

/**
 * Compute environments are gpubatch pools: machines join them (workers), AWS
 * provisions nothing, so every one is UNMANAGED-like whatever it was created
 * as; computeResources.type says whether its capacity is SPOT. A pool has no
 * DISABLED state: drain its workers instead.
 */
@Injectable()
export class AwsComputeEnvironments {
  constructor(@Inject(DataSource) private readonly db: DataSource, @Inject(PoolsService) private readonly pools: PoolsService) {}

  async create(body: AwsInput, caller: Caller) {
    requireOperate(caller);
    body.oneOf('type', ['MANAGED', 'UNMANAGED'] as const, true);
    this.refuseDisabled(body);
    body.refuse(['eksConfiguration'], 'gpubatch pools are not Kubernetes clusters');
    const resources = body.object('computeResources');
    const type = resources?.oneOf('type', ['EC2', 'SPOT', 'FARGATE', 'FARGATE_SPOT'] as const);
    const tags = checkTags(body.map('tags') ?? {});
    const dto = await validated(CreatePoolDto, {
      name: body.string('computeEnvironmentName', true), ...(type ? { capacityType: CAPACITY[type] } : {}),
    }, 'CreateComputeEnvironment');
    const pool = await this.pools.create(dto);
    if (Object.keys(tags).length) await this.db.query(`UPDATE pools SET tags = $2 WHERE name = $1`, [pool.name, JSON.stringify(tags)]);
    return { computeEnvironmentName: pool.name, computeEnvironmentArn: arnOf.computeEnvironment(pool.name) };
  }

  async describe(body: AwsInput) {
    const wanted = body.strings('computeEnvironments', 100)?.map((c) => nameFrom(c, 'compute-environment', 'computeEnvironments'));
    let pools = await this.pools.list();
    if (wanted?.length) pools = pools.filter((p) => wanted.includes(p.name));
    const paged = page(pools, body.integer('maxResults', 1, 100), body.string('nextToken'));
    const names = paged.items.map((p) => p.name);
    const rows: { name: string; tags: Record<string, string>; vcpus: string | null }[] = await this.db.query(
      `SELECT p.name, p.tags, (SELECT sum(w.vcpus) FROM workers w WHERE w.pool = p.name AND w.state = 'ACTIVE')::text AS vcpus
       FROM pools p WHERE p.name = ANY($1)`, [names],
    );
    const extra = new Map(rows.map((r) => [r.name, r]));
    return {
      computeEnvironments: paged.items.map((p) => awsComputeEnvironment(p, extra.get(p.name)?.tags ?? {}, Number(extra.get(p.name)?.vcpus ?? 0))),
      ...(paged.nextToken ? { nextToken: paged.nextToken } : {}),
    };
  }

  async update(body: AwsInput, caller: Caller) {
    requireOperate(caller);
    const name = nameFrom(body.string('computeEnvironment', true), 'compute-environment', 'computeEnvironment');
    this.refuseDisabled(body);
    const type = body.object('computeResources')?.oneOf('type', ['EC2', 'SPOT', 'FARGATE', 'FARGATE_SPOT'] as const);
    const dto = await validated(UpdatePoolDto, type ? { capacityType: CAPACITY[type] } : {}, 'UpdateComputeEnvironment');
    const pool = await this.pools.update(name, dto);
    return { computeEnvironmentName: pool.name, computeEnvironmentArn: arnOf.computeEnvironment(pool.name) };
  }

  private refuseDisabled(body: AwsInput): void {
    if (body.oneOf('state', ['ENABLED', 'DISABLED'] as const) === 'DISABLED') {
      throw new ApiError('VALIDATION_FAILED', 'state DISABLED is not supported: a gpubatch pool is always ENABLED; drain its workers (POST /api/v1/workers/{id}/drain) to stop it taking jobs');
    }
  }
}

export function awsComputeEnvironment(p: PoolEntity, tags: Record<string, string>, activeVcpus: number) {
  return {
    computeEnvironmentName: p.name,
    computeEnvironmentArn: arnOf.computeEnvironment(p.name),
    type: 'UNMANAGED',
    state: 'ENABLED',
    status: 'VALID',
    statusReason: 'ComputeEnvironment Healthy',
    // What the pool's ACTIVE workers declare: capacity is whatever machines join.
    unmanagedvCpus: activeVcpus,
    computeResources: { type: p.capacityType === 'SPOT' ? 'SPOT' : 'EC2', minvCpus: 0, maxvCpus: activeVcpus, desiredvCpus: activeVcpus },
    containerOrchestrationType: 'ECS',
    tags,
  };
}
