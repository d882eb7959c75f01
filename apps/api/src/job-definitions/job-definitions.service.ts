import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_PAGE_SIZE, decodeKeyCursor, toPage, type PageQuery } from '../common/page.js';
import { DataSource } from 'typeorm';
import { mountProblems, normalizeMounts, type ApiConfig, type ContainerRequest, type MountRequest } from '#libs/config';
import { JobDefinitionEntity, PoolEntity } from '#libs/db';
import { policyViolations } from '#libs/config';
import { API_CONFIG } from '../infra/tokens.js';
import { poolPolicy } from '../pools/dto/pool.dto.js';
import { ApiError } from '../common/api-error.js';
import { CatalogCache } from '../infra/catalog-cache.js';
import type { ExitRule } from '#libs/core';
import type { RegisterJobDefinitionDto } from './dto/register-job-definition.dto.js';
import type { RetryStrategyDto } from './dto/retry-strategy.dto.js';

/** `name` or `name:revision`. */
export const DEFINITION_REF_PATTERN = /^[A-Za-z0-9_-]{1,128}(:[1-9][0-9]{0,8})?$/;

@Injectable()
export class JobDefinitionsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(CatalogCache) private readonly catalog: CatalogCache,
  ) {}

  /** Seals secret values under GPUBATCH_SECRET_KEY; a 400 naming the field when no key is configured. */
  sealSecrets(values: Record<string, string> | undefined, field: string): Record<string, string> {
    if (!values || Object.keys(values).length === 0) return {};
    if (!this.config.secrets) {
      throw new ApiError('VALIDATION_FAILED', `${field} needs GPUBATCH_SECRET_KEY to be set on the API (32 bytes, base64); none is configured`);
    }
    return this.config.secrets.encryptAll(values);
  }

  /** Registers a definition; the same name again becomes its next revision. */
  async register(dto: RegisterJobDefinitionDto): Promise<JobDefinitionEntity> {
    if (dto.nodes) {
      // One shape for every node: a definition's resources are already per node, nodes.resources only restates them.
      const given = Object.entries(dto.nodes.resources ?? {}).filter(([, v]) => v !== undefined);
      dto.resources = { ...dto.resources, ...Object.fromEntries(given) };
      if (dto.preemptible) throw new ApiError('VALIDATION_FAILED', 'preemptible must not be true with nodes: the nodes of a multi-node job are stopped and retried together, never preempted one by one');
    }
    const container = containerRequest(dto);
    const overlap = Object.keys(dto.secretEnvironment ?? {}).filter((k) => k in (dto.environment ?? {}));
    if (overlap.length) throw new ApiError('VALIDATION_FAILED', `secretEnvironment names ${overlap.join(', ')}, also in environment: a variable is either secret or not`);
    // A definition no pool could ever run is refused now rather than at every submit.
    const pools = await this.db.getRepository(PoolEntity).find();
    const problems = pools.map((p) => policyViolations({ name: p.name, policy: poolPolicy(p) }, { image: dto.image, memoryMiB: dto.resources.memoryMiB, container }));
    if (pools.length > 0 && problems.every((v) => v.length > 0)) throw new ApiError('VALIDATION_FAILED', `${problems[0][0].message} (and no pool allows it)`);
    if (pools.length === 0) refuseHostMountsWithoutPools(container);
    const secrets = JSON.stringify(this.sealSecrets(dto.secretEnvironment, 'secretEnvironment'));
    const created = await this.insert(dto, container, secrets);
    await this.catalog.changed(); // the name's latest ACTIVE revision moved
    return created;
  }

  private async insert(dto: RegisterJobDefinitionDto, container: ContainerRequest, secrets: string): Promise<JobDefinitionEntity> {
    const [row] = await this.db.query(
      // The lock on existing revisions makes concurrent registrations of one name take turns.
      `WITH locked AS (SELECT revision FROM job_definitions WHERE name = $1 FOR UPDATE)
       INSERT INTO job_definitions (name, revision, image, command, environment, vcpus, memory_mib, gpus,
                                    timeout_seconds, retry_attempts, retry_rules, parameters, tags, gpu_model, label_selector,
                                    container, secret_environment, preemptible, preemption_grace_seconds, nodes)
       SELECT $1, COALESCE(MAX(revision), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $14, $10, $11, $12, $13, $15, $16, $17, $18, $19 FROM locked
       RETURNING id`,
      [
        dto.name, dto.image, JSON.stringify(dto.command ?? []), JSON.stringify(dto.environment ?? {}),
        dto.resources.vcpus, dto.resources.memoryMiB, dto.resources.gpus ?? 0, dto.timeoutSeconds ?? null,
        dto.retryStrategy?.attempts ?? 1, JSON.stringify(dto.parameters ?? {}), JSON.stringify(dto.tags ?? {}),
        dto.resources.gpuModel ?? null, dto.labelSelector ?? null, JSON.stringify(retryRules(dto.retryStrategy)),
        JSON.stringify(container), secrets, dto.preemptible ?? false, dto.preemptionGraceSeconds ?? 30,
        dto.nodes ? JSON.stringify({ count: dto.nodes.count, topologyKey: dto.nodes.topologyKey ?? null }) : null,
      ],
    ).catch((error: { code?: string }) => {
      // Two first registrations of a new name race on the unique key: the loser tries again.
      if (error.code === '23505') return null;
      throw error;
    }) ?? [];
    if (!row) return this.insert(dto, container, secrets);
    return this.repo().findOneByOrFail({ id: row.id });
  }

  /** Every revision (of one definition, when named), at most 1,000: the AWS Batch API pages these itself. */
  async list(name?: string): Promise<JobDefinitionEntity[]> {
    return this.repo().find({ where: name ? { name } : {}, order: { name: 'ASC', revision: 'DESC' }, take: 1000 });
  }

  /** One page by name, newest revision first (`name` filters to one definition's revisions). */
  async page(q: PageQuery & { name?: string }): Promise<{ rows: JobDefinitionEntity[]; nextCursor: string | null }> {
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    const after = decodeKeyCursor(q.cursor, ['string', 'number']);
    const query = this.repo().createQueryBuilder('d').orderBy('d.name', 'ASC').addOrderBy('d.revision', 'DESC').limit(limit + 1);
    if (q.name !== undefined) query.andWhere('d.name = :name', { name: q.name });
    if (after) query.andWhere('(d.name > :afterName OR (d.name = :afterName AND d.revision < :afterRevision))', { afterName: after[0], afterRevision: after[1] });
    return toPage(await query.getMany(), limit, (r) => [r.name, r.revision]);
  }

  /** The given revision, or the latest ACTIVE one when no revision is given. */
  async resolve(name: string, revision?: number): Promise<JobDefinitionEntity> {
    const found = revision !== undefined
      ? await this.repo().findOneBy({ name, revision })
      : await this.repo().findOne({ where: { name, status: 'ACTIVE' }, order: { revision: 'DESC' } });
    if (!found) {
      throw new ApiError('DEFINITION_NOT_FOUND', revision !== undefined
        ? `job definition ${name}:${revision} does not exist`
        : `job definition ${name} has no ACTIVE revision`);
    }
    return found;
  }

  /** Parses `name` or `name:revision` (already validated by the DTO). */
  async resolveRef(ref: string): Promise<JobDefinitionEntity> {
    const [name, revision] = ref.split(':');
    return this.resolve(name, revision ? Number(revision) : undefined);
  }

  async deregister(name: string, revision: number): Promise<JobDefinitionEntity> {
    const definition = await this.resolve(name, revision);
    if (definition.status !== 'INACTIVE') {
      await this.repo().update({ id: definition.id }, { status: 'INACTIVE' });
      await this.catalog.changed();
    }
    return { ...definition, status: 'INACTIVE' };
  }

  private repo() {
    return this.db.getRepository(JobDefinitionEntity);
  }
}

/** The evaluateOnExit rules as stored: only the fields a rule has. */
export function retryRules(strategy: RetryStrategyDto | undefined): ExitRule[] {
  return (strategy?.evaluateOnExit ?? []).map(({ onExitCode, onReason, onStatusReason, action }) => ({
    ...(onExitCode !== undefined ? { onExitCode } : {}),
    ...(onReason !== undefined ? { onReason } : {}),
    ...(onStatusReason !== undefined ? { onStatusReason } : {}),
    action,
  }));
}

/** The container requests of a definition, as stored: only the fields it gives. */
export function containerRequest(dto: RegisterJobDefinitionDto): ContainerRequest {
  return {
    ...(dto.shmSizeMiB !== undefined ? { shmSizeMiB: dto.shmSizeMiB } : {}),
    ...(dto.user !== undefined ? { user: dto.user } : {}),
    ...(dto.readonlyRootFilesystem !== undefined ? { readonlyRootFilesystem: dto.readonlyRootFilesystem } : {}),
    ...(dto.linuxCapabilities?.length ? { linuxCapabilities: [...new Set(dto.linuxCapabilities)].sort() } : {}),
    ...(dto.mounts?.length ? { mounts: mountRequests(dto.mounts) } : {}),
    ...(dto.pullPolicy !== undefined ? { pullPolicy: dto.pullPolicy } : {}),
  };
}

/** Host paths need a pool that allows them: without any pool row (workers in pools nobody created) none does. */
export function refuseHostMountsWithoutPools(container: ContainerRequest, path = ''): void {
  const i = (container.mounts ?? []).findIndex((m) => m.type === 'host');
  if (i >= 0) {
    throw new ApiError('VALIDATION_FAILED',
      `${path}mounts[${i}].source is not under a host path any pool allows: no pool exists to allow it (PATCH /api/v1/pools/{name}/container-policy sets allowedHostPaths)`);
  }
}

/** The mounts as stored, each well formed for its type (400 naming the field otherwise); whether a pool allows them is policyViolations'. */
function mountRequests(mounts: NonNullable<RegisterJobDefinitionDto['mounts']>): MountRequest[] {
  const problems: string[] = [];
  const requests = mounts.map((m, i): MountRequest => {
    const field = `mounts[${i}]`;
    if (m.type === 'tmpfs') {
      if (m.source !== undefined) problems.push(`${field}.source must be absent for a tmpfs`);
      if (m.readOnly) problems.push(`${field}.readOnly must be absent for a tmpfs (a read-only tmpfs holds nothing)`);
      if (m.sizeMiB === undefined) problems.push(`${field}.sizeMiB is required for a tmpfs`);
      return { type: 'tmpfs', target: m.target, sizeMiB: m.sizeMiB ?? 1 };
    }
    if (m.source === undefined) problems.push(`${field}.source is required for a ${m.type} mount`);
    if (m.sizeMiB !== undefined) problems.push(`${field}.sizeMiB applies to tmpfs mounts only`);
    return { type: m.type, source: m.source ?? '', target: m.target, readOnly: m.readOnly ?? false };
  });
  problems.push(...mountProblems(requests));
  if (problems.length) throw new ApiError('VALIDATION_FAILED', problems.join('; '));
  return normalizeMounts(requests);
}
