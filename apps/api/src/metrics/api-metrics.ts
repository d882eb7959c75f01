import { Counter, Gauge, type Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { createMetricsRegistry, errorCounter, reasonKind } from '#libs/metrics';

/**
 * What the API measures (docs/metrics.md): its own submits and error
 * replies, and the cluster's state read from Postgres at each scrape (jobs
 * by state, waiting jobs by reason kind, GPUs, cost). Every API replica
 * reports the same cluster figures: aggregate them with max, not sum.
 */
export class ApiMetrics {
  readonly registry: Registry;
  readonly submits: Counter<'queue' | 'project'>;
  readonly errors: Counter<'kind'>;
  private readonly jobs: Gauge<'queue' | 'state'>;
  private readonly waiting: Gauge<'queue' | 'reason'>;
  private readonly gpus: Gauge<'pool' | 'model'>;
  private readonly gpusAllocated: Gauge<'pool' | 'model'>;
  private readonly cost: Gauge<'project' | 'currency'>;

  constructor(registry: Registry = createMetricsRegistry()) {
    this.registry = registry;
    const registers = [registry];
    this.submits = new Counter({ name: 'gpubatch_job_submits_total', help: 'Jobs submitted through this API process (an array job counts once)', labelNames: ['queue', 'project'], registers });
    this.errors = errorCounter(registry, 'Error replies of this API process, by error code (VALIDATION_FAILED, UNAUTHENTICATED, INTERNAL...)');
    this.jobs = new Gauge({ name: 'gpubatch_jobs', help: 'Jobs by queue and state, array children counted and array parents not (Postgres, at scrape time)', labelNames: ['queue', 'state'], registers });
    this.waiting = new Gauge({ name: 'gpubatch_waiting_jobs', help: 'PENDING and RUNNABLE jobs by the kind of their reason (RESOURCE, PRIORITY, QUOTA, DEPENDENCY...)', labelNames: ['queue', 'reason'], registers });
    this.gpus = new Gauge({ name: 'gpubatch_gpus', help: 'GPUs of ACTIVE and DRAINING workers, by pool and model', labelNames: ['pool', 'model'], registers });
    this.gpusAllocated = new Gauge({ name: 'gpubatch_gpus_allocated', help: 'GPUs held by STARTING and RUNNING attempts, by pool and model', labelNames: ['pool', 'model'], registers });
    this.cost = new Gauge({ name: 'gpubatch_cost_accrued', help: 'Cost billed so far (running attempts up to their last accrual), by project and currency, all time', labelNames: ['project', 'currency'], registers });
  }

  /** Reads the cluster figures from Postgres, then renders every metric. */
  async scrape(db: DataSource): Promise<string> {
    const [jobs, waiting, gpus, allocated, cost] = await Promise.all([
      db.query(`SELECT queue, status, count(*)::int AS n FROM jobs WHERE array_size IS NULL GROUP BY queue, status`) as Promise<{ queue: string; status: string; n: number }[]>,
      db.query(`SELECT queue, status_reason, count(*)::int AS n FROM jobs WHERE status IN ('PENDING', 'RUNNABLE') AND array_size IS NULL
                GROUP BY queue, status_reason`) as Promise<{ queue: string; status_reason: string | null; n: number }[]>,
      db.query(`SELECT w.pool, g->>'model' AS model, count(*)::int AS n FROM workers w, jsonb_array_elements(w.gpus) g
                WHERE w.state IN ('ACTIVE', 'DRAINING') GROUP BY 1, 2`) as Promise<{ pool: string; model: string; n: number }[]>,
      db.query(`SELECT w.pool, g->>'model' AS model, count(*)::int AS n
                FROM gpu_holds h JOIN workers w ON w.id = h.worker_id
                CROSS JOIN LATERAL jsonb_array_elements(w.gpus) g WHERE (g->>'index')::int = h.gpu_index GROUP BY 1, 2`) as Promise<{ pool: string; model: string; n: number }[]>,
      db.query(`SELECT project, currency, sum(cost)::float8 AS cost FROM usage_daily GROUP BY 1, 2`) as Promise<{ project: string; currency: string; cost: number }[]>,
    ]);
    this.jobs.reset();
    for (const r of jobs) this.jobs.set({ queue: r.queue, state: r.status }, r.n);
    this.waiting.reset();
    for (const r of waiting) this.waiting.inc({ queue: r.queue, reason: reasonKind(r.status_reason) }, r.n);
    this.gpus.reset();
    for (const r of gpus) this.gpus.set({ pool: r.pool, model: r.model }, r.n);
    this.gpusAllocated.reset();
    // A pool and model with GPUs but none held shows 0, not nothing.
    for (const r of gpus) this.gpusAllocated.set({ pool: r.pool, model: r.model }, 0);
    for (const r of allocated) this.gpusAllocated.set({ pool: r.pool, model: r.model }, r.n);
    this.cost.reset();
    for (const r of cost) this.cost.set({ project: r.project, currency: r.currency.trim() }, r.cost);
    return this.registry.metrics();
  }
}

/** This API process's metrics. */
export const apiMetrics = new ApiMetrics();
