import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_PAGE_SIZE, decodeKeyCursor, toPage, type PageQuery } from '../common/page.js';
import { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { RedisKeys, WorkerQueues } from '#libs/queue';
import { WorkerEntity } from '#libs/db';
import { ApiError } from '../common/api-error.js';
import { REDIS } from '../infra/tokens.js';
import type { WorkerView } from './worker.view.js';

interface HeldRow { worker_id: string; job_id: string; queue: string; project: string; vcpus: string; memory_mib: number; gpu_devices: number[] }

/** The projects whose jobs the caller may see on a GPU (null: every project). */
type Readable = string[] | null;

@Injectable()
export class WorkersService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(WorkerQueues) private readonly channels: WorkerQueues,
  ) {}

  /** One page by pool, then id. */
  async page(q: PageQuery, readable: Readable): Promise<{ rows: WorkerView[]; nextCursor: string | null }> {
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    const after = decodeKeyCursor(q.cursor, ['string', 'string']);
    const query = this.db.getRepository(WorkerEntity).createQueryBuilder('w').orderBy('w.pool', 'ASC').addOrderBy('w.id', 'ASC').limit(limit + 1);
    if (after) query.where('(w.pool > :pool OR (w.pool = :pool AND w.id > :id))', { pool: after[0], id: after[1] });
    const page = toPage(await query.getMany(), limit, (r) => [r.pool, r.id]);
    return { rows: await this.withAllocations(page.rows, readable), nextCursor: page.nextCursor };
  }

  async get(id: string, readable: Readable = null): Promise<WorkerView> {
    const worker = await this.db.getRepository(WorkerEntity).findOneBy({ id });
    if (!worker) throw new ApiError('WORKER_NOT_FOUND', `worker ${id} does not exist`);
    return (await this.withAllocations([worker], readable))[0];
  }

  /** Asks a worker to drain: no new placements; running jobs finish, then it leaves. */
  async drain(id: string): Promise<WorkerView> {
    const worker = await this.get(id);
    // A drain request outlives nothing: a LOST or LEFT worker would otherwise drain the moment it came back.
    if (worker.state !== 'ACTIVE') return worker;
    await this.redis.sadd(RedisKeys.drainRequests, id);
    await this.db.query(`UPDATE workers SET state = 'DRAINING' WHERE id = $1 AND state = 'ACTIVE'`, [id]);
    return this.get(id);
  }

  /**
   * A spot interruption told by the operator (or a cloud hook): the worker
   * runs the checkpoint handshake for each of its jobs, ending at `deadline`,
   * and drains. Its jobs go back to the queue without using an attempt.
   */
  async interrupt(id: string, deadline: string): Promise<WorkerView> {
    const at = Date.parse(deadline);
    const now = Date.now();
    if (at < now - 1000) throw new ApiError('VALIDATION_FAILED', `deadline must not be in the past, got ${deadline}`);
    if (at > now + 3600_000) throw new ApiError('VALIDATION_FAILED', `deadline must be at most an hour away, got ${deadline}`);
    const worker = await this.get(id);
    if (worker.state === 'LOST' || worker.state === 'LEFT') return worker;
    await this.channels.interrupt(id, { type: 'interrupt', deadline: new Date(at).toISOString() });
    return this.drain(id);
  }

  /**
   * Capacity, allocation and who holds each GPU. A GPU held by a job of a
   * project the caller cannot read shows as held, by nobody it can name:
   * that job does not exist for the caller.
   */
  private async withAllocations(workers: WorkerEntity[], readable: Readable): Promise<WorkerView[]> {
    if (workers.length === 0) return [];
    const held: HeldRow[] = await this.db.query(
      `SELECT a.worker_id, a.job_id, j.queue, j.project, a.vcpus, a.memory_mib, a.gpu_devices
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id
       WHERE a.status IN ('STARTING', 'RUNNING') AND a.worker_id = ANY($1)`,
      [workers.map((w) => w.id)],
    );
    return workers.map((w) => {
      const mine = held.filter((h) => h.worker_id === w.id);
      const holder = new Map<number, HeldRow>();
      for (const h of mine) for (const device of h.gpu_devices) holder.set(device, h);
      const allocated = {
        vcpus: mine.reduce((sum, h) => sum + Math.round(Number(h.vcpus) * 1000), 0) / 1000,
        memoryMiB: mine.reduce((sum, h) => sum + h.memory_mib, 0),
        gpus: holder.size,
      };
      return {
        workerId: w.id,
        pool: w.pool,
        hostname: w.hostname,
        state: w.state,
        labels: w.labels,
        capacity: { vcpus: w.vcpus, memoryMiB: w.memoryMiB, gpus: w.gpus.length },
        allocated,
        free: {
          vcpus: (Math.round(w.vcpus * 1000) - Math.round(allocated.vcpus * 1000)) / 1000,
          memoryMiB: w.memoryMiB - allocated.memoryMiB,
          gpus: w.gpus.length - allocated.gpus,
        },
        gpus: w.gpus.map((g) => {
          const h = holder.get(g.index);
          const visible = h !== undefined && (readable === null || readable.includes(h.project));
          return {
            index: g.index, uuid: g.uuid, model: g.model, memoryMiB: g.memoryMiB, nvlinkGroup: g.nvlinkGroup ?? null,
            held: h !== undefined, jobId: visible ? h.job_id : null, queue: visible ? h.queue : null, project: visible ? h.project : null,
          };
        }),
        runningJobs: mine.length,
        registeredAt: w.registeredAt.toISOString(),
        lastHeartbeatAt: w.lastHeartbeatAt.toISOString(),
      };
    });
  }
}
