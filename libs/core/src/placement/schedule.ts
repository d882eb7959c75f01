import { modelMatches } from '../gpu-model.js';
import { toMilliCpu } from '../resources.js';
import { chooseGpus } from './gpu-choice.js';
import { orderJobs } from './order.js';
import { explain, formatTime, waitingReason, type Explanation } from './reasons.js';
import type { Placement, Reservation, RunnableJob, RunningAttempt, ScheduleInput, ScheduleResult } from './types.js';
import { WorkerState } from './worker-state.js';

const DEFAULT_MAX_RESERVATIONS = 16;

/**
 * One scheduling pass. Pure: time is `input.now`, inputs are not mutated.
 * Jobs are taken in order (see orderJobs); each goes to the best-fitting
 * worker (fewest free GPUs that still fit, so large blocks stay whole) on the
 * GPUs chosen by chooseGpus. A job that fits nowhere reserves the worker
 * where it will fit soonest; later jobs use a reserved worker only if they
 * end before the reservation starts. Every job left waiting gets a reason.
 */
export function schedule(input: ScheduleInput): ScheduleResult {
  const mode = input.policy?.mode ?? 'backfill';
  const maxReservations = input.policy?.maxReservations ?? DEFAULT_MAX_RESERVATIONS;
  const states = input.workers.map((w) => new WorkerState(w));
  const byId = new Map(states.map((s) => [s.node.id, s]));
  const schedulable = states.filter((s) => s.node.schedulable);
  const buckets = new GpuBuckets(schedulable);
  const running = new Map<string, RunningAttempt[]>();
  for (const r of input.running ?? []) running.set(r.workerId, [...(running.get(r.workerId) ?? []), r]);

  const placements: Placement[] = [];
  const waiting = new Map<string, string>();
  const reservations: Reservation[] = [];
  // Capacity only shrinks during a pass, so a shape that found no worker finds none later either.
  const noFit = new Set<string>();
  const aheadInQueue = new Map<string, number>();
  const explanations = new Map<string, Explanation>();
  let strictBlocker: RunnableJob | undefined;

  for (const job of orderJobs(input.jobs, input.policy?.fairShare)) {
    const ahead = aheadInQueue.get(job.queue) ?? 0;
    const wait = (reason: string) => {
      waiting.set(job.id, reason);
      aheadInQueue.set(job.queue, ahead + 1);
    };
    if (strictBlocker) {
      wait(ahead > 0 ? `PRIORITY: ${ahead} jobs ahead in queue ${job.queue}` : `PRIORITY: waiting behind job ${strictBlocker.id} in queue ${strictBlocker.queue}`);
      continue;
    }
    const key = shapeKey(job);
    const target = noFit.has(key) ? undefined : buckets.bestFit(job, input.now);
    if (target) {
      const gpuDevices = chooseGpus(target.freeGpusFor(job), job.resources.gpus);
      buckets.take(target, job, gpuDevices);
      placements.push({ jobId: job.id, workerId: target.node.id, gpuDevices });
      running.set(target.node.id, [...(running.get(target.node.id) ?? []), {
        jobId: job.id, workerId: target.node.id, startedAt: input.now, timeoutSeconds: job.timeoutSeconds ?? null,
        vcpus: job.resources.vcpus, memoryMiB: job.resources.memoryMiB, gpuIndices: gpuDevices,
      }]);
      continue;
    }
    noFit.add(key);
    if (mode === 'strict-fifo') strictBlocker = job;

    if (mode === 'backfill' && reservations.length < maxReservations) {
      const reservation = reserve(job, schedulable, running, input.now);
      if (reservation) {
        reservations.push(reservation);
        byId.get(reservation.workerId)!.reservation = { jobId: job.id, startAt: reservation.startAt };
        wait(`RESERVED: waiting for worker ${reservation.workerId}, estimated start ${formatTime(reservation.startAt)}`);
        continue;
      }
    }
    let explanation = explanations.get(key);
    if (!explanation) {
      const blocker = schedulable.find((s) => s.reservation && s.admits(job) && s.fitsNow(job));
      explanation = explain(job, states, blocker);
      explanations.set(key, explanation);
    }
    wait(waitingReason(job, explanation, ahead));
  }
  return { placements, waiting, reservations };
}

/** Jobs with the same key fit exactly the same workers. */
function shapeKey(job: RunnableJob): string {
  const r = job.resources;
  return [
    toMilliCpu(r.vcpus), r.memoryMiB, r.gpus, r.gpuModel?.join('|') ?? '', job.pools.join(','),
    job.labelSelector ? JSON.stringify(job.labelSelector) : '', job.timeoutSeconds ?? '',
  ].join(' ');
}

/**
 * Where the job will fit soonest, judged from the running attempts' start
 * plus timeout. Attempts without a timeout never count as ending.
 */
function reserve(job: RunnableJob, workers: WorkerState[], running: Map<string, RunningAttempt[]>, now: number): Reservation | undefined {
  let best: Reservation | undefined;
  for (const w of workers) {
    if (w.reservation || !w.admits(job) || !w.couldEverFit(job)) continue;
    const startAt = estimatedStart(job, w, running.get(w.node.id) ?? [], now);
    if (startAt !== undefined && (!best || startAt < best.startAt)) best = { jobId: job.id, workerId: w.node.id, startAt };
  }
  return best;
}

function estimatedStart(job: RunnableJob, w: WorkerState, attempts: RunningAttempt[], now: number): number | undefined {
  const r = job.resources;
  const matching = new Set(w.node.capacity.gpus.filter((g) => modelMatches(r.gpuModel, g.model)).map((g) => g.index));
  let gpus = w.free.filter((g) => matching.has(g.index)).length;
  let milliCpu = w.milliCpu;
  let memoryMiB = w.memoryMiB;
  const ends = attempts
    .map((a) => ({ a, end: a.timeoutSeconds === null ? Infinity : Math.max(now, a.startedAt + a.timeoutSeconds * 1000) }))
    .sort((x, y) => x.end - y.end);
  for (const { a, end } of ends) {
    if (end === Infinity) return undefined;
    milliCpu += toMilliCpu(a.vcpus);
    memoryMiB += a.memoryMiB;
    gpus += a.gpuIndices.filter((i) => matching.has(i)).length;
    if (milliCpu >= toMilliCpu(r.vcpus) && memoryMiB >= r.memoryMiB && gpus >= r.gpus) return end;
  }
  return undefined;
}

/** Schedulable workers bucketed by free GPU count, for best fit without scanning every worker. */
class GpuBuckets {
  private readonly buckets: Set<WorkerState>[] = [];

  constructor(workers: WorkerState[]) {
    for (const w of workers) this.bucket(w.free.length).add(w);
  }

  private bucket(n: number): Set<WorkerState> {
    while (this.buckets.length <= n) this.buckets.push(new Set());
    return this.buckets[n];
  }

  /** The first worker in the lowest bucket that fits and respects reservations. */
  bestFit(job: RunnableJob, now: number): WorkerState | undefined {
    for (let n = job.resources.gpus; n < this.buckets.length; n++) {
      for (const w of this.buckets[n]) {
        if (!w.fitsNow(job) || !w.admits(job)) continue;
        if (w.reservation && !endsBefore(job, now, w.reservation.startAt)) continue;
        return w;
      }
    }
    return undefined;
  }

  take(w: WorkerState, job: RunnableJob, gpuDevices: number[]): void {
    this.buckets[w.free.length].delete(w);
    w.take(job, gpuDevices);
    this.bucket(w.free.length).add(w);
  }
}

/** EASY backfill: a job may use a reserved worker only if its timeout ends before the reservation starts. */
function endsBefore(job: RunnableJob, now: number, startAt: number): boolean {
  return job.timeoutSeconds !== null && job.timeoutSeconds !== undefined && now + job.timeoutSeconds * 1000 <= startAt;
}
