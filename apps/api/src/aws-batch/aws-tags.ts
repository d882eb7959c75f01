import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Caller } from '../auth/caller.js';
import { ProjectAccess } from '../auth/project-access.js';
import { ApiError } from '../common/api-error.js';
import { JobDefinitionsService } from '../job-definitions/job-definitions.service.js';
import { JobQueuesService } from '../job-queues/job-queues.service.js';
import { PoolsService } from '../pools/pools.service.js';
import { ARN_PREFIX, parseArn } from './arns.js';

/** AWS's tag rules: at most 50 per resource, keys 1-128 characters (not aws:), values up to 256. */
export function checkTags(tags: Record<string, string>): Record<string, string> {
  const keys = Object.keys(tags);
  if (keys.length > 50) throw new ApiError('VALIDATION_FAILED', 'tags may hold at most 50 tags');
  for (const k of keys) {
    if (k.length < 1 || k.length > 128) throw new ApiError('VALIDATION_FAILED', `tag key "${k.slice(0, 130)}" must be 1-128 characters`);
    if (k.toLowerCase().startsWith('aws:')) throw new ApiError('VALIDATION_FAILED', `tag key ${k} must not start with aws: (reserved)`);
    if (tags[k]!.length > 256) throw new ApiError('VALIDATION_FAILED', `tag ${k} must have a value of at most 256 characters`);
  }
  return tags;
}

interface Target { table: 'jobs' | 'job_definitions' | 'job_queues' | 'pools'; key: string; column: 'id' | 'name' }

/** TagResource, UntagResource, ListTagsForResource on jobs, job definitions, job queues and compute environments (pools). */
@Injectable()
export class AwsTags {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ProjectAccess) private readonly access: ProjectAccess,
    @Inject(JobDefinitionsService) private readonly definitions: JobDefinitionsService,
    @Inject(JobQueuesService) private readonly queues: JobQueuesService,
    @Inject(PoolsService) private readonly pools: PoolsService,
  ) {}

  async list(resourceArn: string, caller: Caller) {
    return { tags: await this.current(await this.target(resourceArn, caller, false)) };
  }

  async tag(resourceArn: string, tags: Record<string, string>, caller: Caller) {
    const target = await this.target(resourceArn, caller, true);
    await this.write(target, checkTags({ ...(await this.current(target)), ...tags }));
    return {};
  }

  async untag(resourceArn: string, keys: string[], caller: Caller) {
    const target = await this.target(resourceArn, caller, true);
    const tags = await this.current(target);
    for (const k of keys) delete tags[k];
    await this.write(target, tags);
    return {};
  }

  /** The resource an ARN names, if the caller may see it (and change it, for a write); 400 otherwise, as AWS answers. */
  private async target(resourceArn: string, caller: Caller, write: boolean): Promise<Target> {
    const arn = parseArn(resourceArn);
    if (!arn) throw new ApiError('VALIDATION_FAILED', `resourceArn must be a gpubatch ARN (${ARN_PREFIX}job/<id>, job-definition/<name>:<revision>, job-queue/<name> or compute-environment/<name>)`);
    switch (arn.kind) {
      case 'job':
        await this.access.job(caller, arn.name, write ? 'submit' : 'read');
        return { table: 'jobs', key: arn.name, column: 'id' };
      case 'job-definition': {
        const [name, revision] = arn.name.split(':');
        if (!revision || !/^[1-9][0-9]{0,8}$/.test(revision)) throw new ApiError('VALIDATION_FAILED', 'a job definition ARN must end in <name>:<revision>');
        if (write && !caller.canSomewhere('submit')) throw new ApiError('FORBIDDEN', `${caller.id} may not change job definitions`);
        const d = await this.definitions.resolve(name!, Number(revision));
        return { table: 'job_definitions', key: String(d.id), column: 'id' };
      }
      case 'job-queue':
        if (write && !caller.canEverywhere('operate')) throw new ApiError('FORBIDDEN', `${caller.id} may not change job queues`);
        await this.queues.get(arn.name);
        return { table: 'job_queues', key: arn.name, column: 'name' };
      case 'compute-environment':
        if (write && !caller.canEverywhere('operate')) throw new ApiError('FORBIDDEN', `${caller.id} may not change compute environments`);
        await this.pools.get(arn.name);
        return { table: 'pools', key: arn.name, column: 'name' };
    }
  }

  private async current(t: Target): Promise<Record<string, string>> {
    const [row]: { tags: Record<string, string> }[] = await this.db.query(`SELECT tags FROM ${t.table} WHERE ${t.column} = $1`, [t.key]);
    return { ...(row?.tags ?? {}) };
  }

  private async write(t: Target, tags: Record<string, string>): Promise<void> {
    await this.db.query(`UPDATE ${t.table} SET tags = $2 WHERE ${t.column} = $1`, [t.key, JSON.stringify(tags)]);
  }
}
