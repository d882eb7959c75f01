import { modelMatches } from '../gpu-model.js';
import { endsBefore } from './estimates.js';
import type { RunnableJob } from './types.js';
import type { WorkerState } from './worker-state.js';

/** Workers of one pool with the same GPU models: a job's pools and model constraint rule a whole class in or out. */
interface WorkerClass {
  pool: string;
  models: readonly string[];
  /** By free GPU count; each set in the order its workers entered it. */
  buckets: Set<WorkerState>[];
}

/**
 * Schedulable workers bucketed by free GPU count, for best fit: the first
 * worker, in the lowest bucket at or above the job's GPUs, that fits it.
 * "First" is the order workers entered the bucket (a worker that takes a job
 * re-enters at the end). Buckets are split by pool and GPU models, so a job
 * for one pool or one model never walks the workers of the others; the
 * entry stamp keeps the order across classes the same as one bucket would.
 */
export class WorkerIndex {
  private readonly classes: WorkerClass[] = [];
  private readonly classOf = new Map<WorkerState, WorkerClass>();
  private readonly entered = new Map<WorkerState, number>();
  private stamp = 0;
  private maxBucket = 0;

  constructor(workers: readonly WorkerState[]) {
    const byKey = new Map<string, WorkerClass>();
    for (const w of workers) {
      const models = [...new Set(w.node.capacity.gpus.map((g) => g.model))].sort();
      const key = `${w.node.pool}\u0000${models.join('\u0000')}`;
      let c = byKey.get(key);
      if (!c) {
        c = { pool: w.node.pool, models, buckets: [] };
        byKey.set(key, c);
        this.classes.push(c);
      }
      this.classOf.set(w, c);
      this.enter(c, w);
    }
  }

  private enter(c: WorkerClass, w: WorkerState): void {
    const n = w.free.length;
    while (c.buckets.length <= n) c.buckets.push(new Set());
    c.buckets[n].add(w);
    this.entered.set(w, this.stamp++);
    if (n > this.maxBucket) this.maxBucket = n;
  }

  /** The best fit in the first of the job's pools (in its order of preference) that has one. */
  preferredFit(job: RunnableJob, now: number): WorkerState | undefined {
    if (job.pools.length <= 1) return this.bestFit(job, now, undefined);
    for (const pool of job.pools) {
      const w = this.bestFit(job, now, pool);
      if (w) return w;
    }
    return undefined;
  }

  private bestFit(job: RunnableJob, now: number, pool: string | undefined): WorkerState | undefined {
    const classes = this.candidateClasses(job, pool);
    if (classes.length === 0) return undefined;
    for (let n = job.resources.gpus; n <= this.maxBucket; n++) {
      let best: WorkerState | undefined;
      let bestStamp = Infinity;
      for (const c of classes) {
        const bucket = c.buckets[n];
        if (!bucket || bucket.size === 0) continue;
        for (const w of bucket) {
          const stamp = this.entered.get(w)!;
          // Later entries of this bucket cannot come first.
          if (stamp > bestStamp) break;
          if (!w.fitsNow(job) || !w.admits(job)) continue;
          if (w.reservation && !endsBefore(job, now, w.reservation.startAt)) continue;
          best = w;
          bestStamp = stamp;
          break;
        }
      }
      if (best) return best;
    }
    return undefined;
  }

  /** Classes in the job's pools (or `pool`) with a GPU model it allows (any, for a CPU-only job). */
  private candidateClasses(job: RunnableJob, pool: string | undefined): WorkerClass[] {
    const constraint = job.resources.gpus > 0 ? job.resources.gpuModel : undefined;
    return this.classes.filter((c) => (pool !== undefined ? c.pool === pool : job.pools.length === 0 || job.pools.includes(c.pool))
      && (!constraint?.length || c.models.some((m) => modelMatches(constraint, m))));
  }

  take(w: WorkerState, job: RunnableJob, gpuDevices: number[]): void {
    const c = this.classOf.get(w)!;
    c.buckets[w.free.length].delete(w);
    w.take(job, gpuDevices);
    this.enter(c, w);
  }
}
