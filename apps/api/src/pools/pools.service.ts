import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_PAGE_SIZE, decodeKeyCursor, toPage, type PageQuery } from '../common/page.js';
import { DataSource } from 'typeorm';
import { parsePrice, type PriceCard } from '#libs/core';
import { checkAbsolutePath } from '#libs/config';
import { PoolEntity } from '#libs/db';
import { ApiError } from '../common/api-error.js';
import { CatalogCache } from '../infra/catalog-cache.js';
import type { CreatePoolDto, PriceCardDto, UpdateContainerPolicyDto, UpdatePoolDto } from './dto/pool.dto.js';

/** Validated by the DTO already: here a price only changes form. */
const price = (value: string | number | undefined): string | undefined => (value === undefined ? undefined : parsePrice(value));

function modelPrices(byModel: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(byModel).map(([model, p]) => [model, price(p)!]));
}

@Injectable()
export class PoolsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(CatalogCache) private readonly catalog: CatalogCache,
  ) {}

  async create(dto: CreatePoolDto): Promise<PoolEntity> {
    const p: PriceCardDto = dto.prices ?? {};
    const rows: unknown[] = await this.db.query(
      `INSERT INTO pools (name, capacity_type, currency, vcpu_hour, memory_gib_hour, gpu_hour, gpu_hour_by_model, minimum_billed_seconds)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING RETURNING name`,
      [dto.name, dto.capacityType ?? 'ON_DEMAND', dto.currency ?? 'USD', price(p.vcpuHour) ?? 0, price(p.memoryGiBHour) ?? 0,
        price(p.gpuHour) ?? 0, JSON.stringify(modelPrices(p.gpuHourByModel ?? {})), dto.minimumBilledSeconds ?? 0],
    );
    if (rows.length === 0) throw new ApiError('POOL_EXISTS', `pool ${dto.name} already exists; PATCH /api/v1/pools/${dto.name} changes it`);
    await this.catalog.changed();
    return this.get(dto.name);
  }

  async page(q: PageQuery): Promise<{ rows: PoolEntity[]; nextCursor: string | null }> {
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    const after = decodeKeyCursor(q.cursor, ['string']);
    const query = this.repo().createQueryBuilder('p').orderBy('p.name', 'ASC').limit(limit + 1);
    if (after) query.where('p.name > :after', { after: after[0] });
    return toPage(await query.getMany(), limit, (r) => [r.name]);
  }

  list(): Promise<PoolEntity[]> {
    return this.repo().find({ order: { name: 'ASC' } });
  }

  async get(name: string): Promise<PoolEntity> {
    const pool = await this.repo().findOneBy({ name });
    if (!pool) throw new ApiError('POOL_NOT_FOUND', `pool ${name} does not exist`);
    return pool;
  }

  /** Usage rows keep the rates they were billed at, so a change here never rewrites past cost. */
  async update(name: string, dto: UpdatePoolDto): Promise<PoolEntity> {
    await this.get(name);
    const p: PriceCardDto = dto.prices ?? {};
    const changes: Partial<PoolEntity> = {
      capacityType: dto.capacityType, currency: dto.currency, minimumBilledSeconds: dto.minimumBilledSeconds,
      vcpuHour: price(p.vcpuHour), memoryGiBHour: price(p.memoryGiBHour), gpuHour: price(p.gpuHour),
      gpuHourByModel: p.gpuHourByModel && modelPrices(p.gpuHourByModel),
    };
    const set = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    if (Object.keys(set).length > 0) {
      await this.repo().update({ name }, { ...set, updatedAt: new Date() });
      await this.catalog.changed();
    }
    return this.get(name);
  }

  /** Admins only (the route says so): the container policy every job on the pool's workers gets from its next attempt on. */
  async updateContainerPolicy(name: string, dto: UpdateContainerPolicyDto): Promise<PoolEntity> {
    await this.get(name);
    const hostPaths = dto.allowedHostPaths?.map((p, i) => {
      const checked = checkAbsolutePath(p);
      if ('problem' in checked) throw new ApiError('VALIDATION_FAILED', `allowedHostPaths[${i}] ${checked.problem}`);
      return checked.path;
    });
    const changes: Record<string, unknown> = {
      pids_limit: dto.pidsLimit, nofile_limit: dto.nofileLimit, log_max_bytes: dto.logMaxBytes, max_shm_mib: dto.maxShmMiB,
      allow_root_user: dto.allowRootUser, require_readonly_root_fs: dto.requireReadonlyRootFs, allow_multi_node: dto.allowMultiNode,
      allowed_capabilities: dto.allowedCapabilities && JSON.stringify([...new Set(dto.allowedCapabilities)].sort()),
      allowed_host_paths: hostPaths && JSON.stringify([...new Set(hostPaths)].sort()),
      allowed_registries: dto.allowedRegistries === undefined ? undefined : dto.allowedRegistries === null ? null : JSON.stringify(dto.allowedRegistries.map((r) => r.toLowerCase())),
    };
    const set = Object.entries(changes).filter(([, v]) => v !== undefined);
    if (set.length > 0) {
      await this.db.query(
        `UPDATE pools SET ${set.map(([column], i) => `${column} = $${i + 2}`).join(', ')}, updated_at = now() WHERE name = $1`,
        [name, ...set.map(([, v]) => v)],
      );
      await this.catalog.changed();
    }
    return this.get(name);
  }

  /** The pools a queue's jobs may run in (every pool when it names none), with their container policies. */
  async forQueue(names: readonly string[]): Promise<PoolEntity[]> {
    return names.length ? this.repo().findBy(names.map((name) => ({ name }))) : this.list();
  }

  /** The price cards of the given pools (every pool when `names` is empty). */
  async priceCards(names: readonly string[]): Promise<{ name: string; capacityType: string; card: PriceCard }[]> {
    const pools = names.length ? await this.repo().findBy(names.map((name) => ({ name }))) : await this.list();
    return pools.map((p) => ({
      name: p.name, capacityType: p.capacityType,
      card: {
        currency: p.currency, vcpuHour: p.vcpuHour, memoryGiBHour: p.memoryGiBHour, gpuHour: p.gpuHour,
        gpuHourByModel: p.gpuHourByModel, minimumBilledSeconds: p.minimumBilledSeconds,
      },
    }));
  }

  private repo() {
    return this.db.getRepository(PoolEntity);
  }
}
