import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JOB_STATUSES } from '#libs/core';
import type { GpuInventoryView, MinuteRateView, OverviewView, QueueCountsView } from './overview.view.js';

export const FINISHED_WINDOW_HOURS = 24;
export const RATE_WINDOW_MINUTES = 30;
const MINUTE_MS = 60_000;

interface WorkerGpus { id: string; pool: string; gpus: { index: number; model: string }[] }
interface HeldDevices { worker_id: string; gpu_devices: number[] }

/** GPUs per pool and model, total and held, from the live workers and the devices their active attempts hold. */
export function gpuInventory(workers: WorkerGpus[], held: HeldDevices[]): GpuInventoryView[] {
  const heldBy = new Map<string, Set<number>>();
  for (const h of held) {
    const set = heldBy.get(h.worker_id) ?? new Set<number>();
    for (const d of h.gpu_devices) set.add(d);
    heldBy.set(h.worker_id, set);
  }
  const tally = new Map<string, GpuInventoryView>();
  for (const w of workers) {
    for (const g of w.gpus) {
      const key = `${w.pool}\u0000${g.model}`;
      const row = tally.get(key) ?? { pool: w.pool, model: g.model, total: 0, allocated: 0 };
      row.total += 1;
      if (heldBy.get(w.id)?.has(g.index)) row.allocated += 1;
      tally.set(key, row);
    }
  }
  return [...tally.values()].sort((a, b) => a.pool.localeCompare(b.pool) || a.model.localeCompare(b.model));
}

/** One row per minute of the window, oldest first, zero where nothing happened. */
export function perMinute(now: Date, minutes: number, submits: { minute: Date; n: number }[], starts: { minute: Date; n: number }[]): MinuteRateView[] {
  const last = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS;
  const byMinute = (rows: { minute: Date; n: number }[]) => new Map(rows.map((r) => [r.minute.getTime(), r.n]));
  const s = byMinute(submits);
  const t = byMinute(starts);
  const out: MinuteRateView[] = [];
  for (let m = last - (minutes - 1) * MINUTE_MS; m <= last; m += MINUTE_MS) {
    out.push({ minute: new Date(m).toISOString(), submits: s.get(m) ?? 0, starts: t.get(m) ?? 0 });
  }
  return out;
}

@Injectable()
export class OverviewService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /** `projects`: the readable projects, null for all. Every query is bounded by an index (status, stopped_at, created_at, usage started_at). */
  async overview(projects: string[] | null, now: Date): Promise<OverviewView> {
    const finishedSince = new Date(now.getTime() - FINISHED_WINDOW_HOURS * 3_600_000);
    const rateSince = new Date(Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS - (RATE_WINDOW_MINUTES - 1) * MINUTE_MS);

    // Array parents are bookkeeping; their children are the jobs that wait and run.
    const countParams: unknown[] = [finishedSince];
    const countScope = projects === null ? '' : `AND project = ANY($${countParams.push(projects)})`;
    const [queues, counts, workers, held, submits, starts] = await Promise.all([
      this.db.query(`SELECT name FROM job_queues ORDER BY priority DESC, name`) as Promise<{ name: string }[]>,
      this.db.query(
        `SELECT queue, status, count(*)::int AS n FROM jobs
          WHERE status IN ('SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING') AND array_size IS NULL ${countScope}
          GROUP BY queue, status
         UNION ALL
         SELECT queue, status, count(*)::int AS n FROM jobs
          WHERE status IN ('SUCCEEDED', 'FAILED') AND stopped_at >= $1 AND array_size IS NULL ${countScope}
          GROUP BY queue, status`,
        countParams,
      ) as Promise<{ queue: string; status: string; n: number }[]>,
      this.db.query(`SELECT id, pool, gpus FROM workers WHERE state IN ('ACTIVE', 'DRAINING')`) as Promise<WorkerGpus[]>,
      this.db.query(`SELECT worker_id, gpu_devices FROM job_attempts WHERE status IN ('STARTING', 'RUNNING')`) as Promise<HeldDevices[]>,
      this.minuteCounts(`SELECT date_trunc('minute', created_at) AS minute, count(*)::int AS n FROM jobs
          WHERE created_at >= $1 AND parent_id IS NULL`, 'project', rateSince, projects),
      this.minuteCounts(`SELECT date_trunc('minute', started_at) AS minute, count(*)::int AS n FROM usage
          WHERE started_at >= $1`, 'project', rateSince, projects),
    ]);

    const byQueue = new Map<string, QueueCountsView>();
    const row = (queue: string) => {
      let r = byQueue.get(queue);
      if (!r) byQueue.set(queue, r = { queue, counts: Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) });
      return r;
    };
    for (const q of queues) row(q.name);
    for (const c of counts) row(c.queue).counts[c.status] = (row(c.queue).counts[c.status] ?? 0) + c.n;

    return {
      generatedAt: now.toISOString(),
      finishedWindowHours: FINISHED_WINDOW_HOURS,
      queues: [...byQueue.values()],
      gpus: gpuInventory(workers, held),
      perMinute: perMinute(now, RATE_WINDOW_MINUTES, submits, starts),
      rateWindowMinutes: RATE_WINDOW_MINUTES,
    };
  }

  private minuteCounts(select: string, projectColumn: string, since: Date, projects: string[] | null): Promise<{ minute: Date; n: number }[]> {
    const params: unknown[] = [since];
    const scope = projects === null ? '' : ` AND ${projectColumn} = ANY($${params.push(projects)})`;
    return this.db.query(`${select}${scope} GROUP BY 1`, params);
  }
}
