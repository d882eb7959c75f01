import { toMilliCpu } from '../resources.js';
import { endsBefore, estimatedStart } from './estimates.js';
import { fitGang, gangUnschedulable, gangWaitingReason, reserveGang } from './gang.js';
import { chooseGpus } from './gpu-choice.js';
import { orderJobs } from './order.js';
import { budgetReason, explain, formatTime, priorityReason, quotaReason, waitingReason, type Explanation } from './reasons.js';
import type { Placement, ProjectLimits, Reservation, RunnableJob, RunningAttempt, ScheduleInput, ScheduleResult } from './types.js';
import { WorkerState } from './worker-state.js';

const DEFAULT_MAX_RESERVATIONS = 16;

/**
 * One scheduling pass. Pure: time is `input.now`, inputs are not mutated.
 * Jobs are taken in order (see orderJobs); each goes to the best-fitting
 * worker (fewest free GPUs that still fit, so large blocks stay whole) on the
 * GPUs chosen by chooseGpus. A job that fits nowhere reserves the worker
 * where it will fit soonest; later jobs use a reserved worker only if they
 * end before the reservation starts. A job whose project is at its GPU
 * quota or over its budget waits without holding anything up. A multi-node
 * job (gang) is placed all at once, one node per worker of one pool, or
 * waits holding reservations on the workers it will use. Every job left
 * waiting gets a reason.
 */
export function schedule(input: ScheduleInput): ScheduleResult {
  const mode = input.policy?.mode ?? 'backfill';
  const maxReservations = input.policy?.maxReservations ?? DEFAULT_MAX_RESERVATIONS;
  const states = input.workers.map((w) => new WorkerState(w));
  const byId = new Map(states.map((s) => [s.node.id, s]));
  const schedulable = states.filter((s) => s.node.schedulable);
  const buckets = new GpuBuckets(schedulable);
  const running = new Map<string, RunningAttempt[]>();
  for (const r of input.running ?? []) {
    const list = running.get(r.workerId);
    if (list) list.push(r);
    else running.set(r.workerId, [r]);
  }

  const placements: Placement[] = [];
  const waiting = new Map<string, string>();
  const reservations: Reservation[] = [];
  // Capacity only shrinks during a pass, so a shape that found no worker finds none later either;
  // a longer timeout only shuts more reserved workers, so it is recorded as the shortest that failed.
  const noFit = new Map<string, number>();
  const noReservation = new Set<string>();
  const aheadInQueue = new Map<string, number>();
  // Keyed by shape, split by whether the job has a timeout: the only way the timeout changes the reason.
  const explanations = { timed: new Map<string, Explanation>(), untimed: new Map<string, Explanation>() };
  let strictBlocker: RunnableJob | undefined;
  // Copied: placements in this pass add to what each project holds.
  const gpusHeld = new Map([...input.projects ?? []].map(([name, p]) => [name, p.gpusHeld]));
  // The nodes of each multi-node job: a gang is decided once, when its first node comes up in the order.
  const gangs = new Map<string, RunnableJob[]>();
  for (const job of input.jobs) {
    if (!job.gang) continue;
    const nodes = gangs.get(job.gang.id);
    if (nodes) nodes.push(job);
    else gangs.set(job.gang.id, [job]);
  }
  const place = (job: RunnableJob, target: WorkerState, gpuDevices: number[]) => {
    buckets.take(target, job, gpuDevices);
    placements.push({ jobId: job.id, workerId: target.node.id, gpuDevices });
    const attempt: RunningAttempt = {
      jobId: job.id, workerId: target.node.id, startedAt: input.now, timeoutSeconds: job.timeoutSeconds ?? null,
      vcpus: job.resources.vcpus, memoryMiB: job.resources.memoryMiB, gpuIndices: gpuDevices,
    };
    const list = running.get(target.node.id);
    if (list) list.push(attempt);
    else running.set(target.node.id, [attempt]);
  };

  for (const job of orderJobs(input.jobs, input.policy?.fairShare)) {
    if (job.gang) {
      const nodes = gangs.get(job.gang.id);
      if (!nodes) continue; // decided with its first node
      gangs.delete(job.gang.id);
      const ahead = aheadInQueue.get(job.queue) ?? 0;
      const wait = (reason: string) => {
        for (const n of nodes) waiting.set(n.id, reason);
        aheadInQueue.set(job.queue, ahead + 1);
      };
      const size = job.gang.size;
      const gpus = job.resources.gpus * size;
      const limits = job.project === undefined ? undefined : input.projects?.get(job.project);
      const limited = limits && projectLimitReason({ ...job, resources: { ...job.resources, gpus } }, limits, gpusHeld.get(job.project!) ?? 0);
      if (limited) {
        for (const n of nodes) waiting.set(n.id, limited);
        continue;
      }
      if (nodes.length !== size) {
        wait(`GANG: ${nodes.length} of ${size} nodes are runnable; waiting for the others`);
        continue;
      }
      if (strictBlocker) {
        wait(ahead > 0 ? priorityReason(ahead, job.queue) : `PRIORITY: waiting behind job ${strictBlocker.id} in queue ${strictBlocker.queue}`);
        continue;
      }
      const never = gangUnschedulable(job, size, schedulable);
      if (never) {
        const anyNode = schedulable.some((w) => w.admits(job) && w.couldEverFit(job));
        wait(anyNode ? never : explain(job, states, undefined).text);
        continue;
      }
      const fit = fitGang(job, size, schedulable, input.now, job.gang.topologyKey);
      if (fit) {
        const ordered = [...nodes].sort((a, b) => a.gang!.index - b.gang!.index);
        ordered.forEach((node, i) => place(node, fit.workers[i], chooseGpus(fit.workers[i].freeGpusFor(node), node.resources.gpus)));
        if (limits) gpusHeld.set(job.project!, (gpusHeld.get(job.project!) ?? 0) + gpus);
        continue;
      }
      if (mode === 'strict-fifo') strictBlocker = job;
      const reservation = mode === 'backfill' && reservations.length < maxReservations ? reserveGang(job, size, schedulable, running, input.now) : undefined;
      if (reservation) {
        for (const w of reservation.workers) {
          w.reservation = { jobId: job.id, startAt: reservation.startAt };
          reservations.push({ jobId: job.id, workerId: w.node.id, startAt: reservation.startAt });
        }
        wait(gangWaitingReason(job, size, reservation.availableNow, reservation.pool, reservation.startAt));
      } else {
        const available = schedulable.filter((w) => w.admits(job) && w.fitsNow(job)).length;
        wait(gangWaitingReason(job, size, available, undefined, undefined));
      }
      continue;
    }
    const limits = job.project === undefined ? undefined : input.projects?.get(job.project);
    const limited = limits && projectLimitReason(job, limits, gpusHeld.get(job.project!) ?? 0);
    if (limited) {
      // Not counted as ahead of anyone: it holds nothing and reserves nothing.
      waiting.set(job.id, limited);
      continue;
    }
    const ahead = aheadInQueue.get(job.queue) ?? 0;
    if (strictBlocker) {
      waiting.set(job.id, ahead > 0 ? priorityReason(ahead, job.queue) : `PRIORITY: waiting behind job ${strictBlocker.id} in queue ${strictBlocker.queue}`);
      aheadInQueue.set(job.queue, ahead + 1);
      continue;
    }
    const key = shapeKey(job);
    const timeout = job.timeoutSeconds ?? Infinity;
    const failedAt = noFit.get(key);
    const target = failedAt !== undefined && timeout >= failedAt ? undefined : buckets.preferredFit(job, input.now);
    if (target) {
      place(job, target, chooseGpus(target.freeGpusFor(job), job.resources.gpus));
      if (limits) gpusHeld.set(job.project!, (gpusHeld.get(job.project!) ?? 0) + job.resources.gpus);
      continue;
    }
    noFit.set(key, Math.min(timeout, noFit.get(key) ?? Infinity));
    // A job no worker could ever run must not block the queue behind it for good.
    if (mode === 'strict-fifo' && schedulable.some((w) => w.admits(job) && w.couldEverFit(job))) strictBlocker = job;

    if (mode === 'backfill' && reservations.length < maxReservations && !noReservation.has(key)) {
      const reservation = reserve(job, schedulable, running, input.now);
      // Reservations only take workers away, so this shape finds none later in the pass either.
      if (!reservation) noReservation.add(key);
      if (reservation) {
        reservations.push(reservation);
        byId.get(reservation.workerId)!.reservation = { jobId: job.id, startAt: reservation.startAt };
        waiting.set(job.id, `RESERVED: waiting for worker ${reservation.workerId}, estimated start ${formatTime(reservation.startAt)}`);
        aheadInQueue.set(job.queue, ahead + 1);
        continue;
      }
    }
    const cache = timeout === Infinity ? explanations.untimed : explanations.timed;
    let explanation = cache.get(key);
    if (!explanation) {
      const blocker = schedulable.find((s) => s.reservation && s.admits(job) && s.fitsNow(job));
      explanation = explain(job, states, blocker);
      cache.set(key, explanation);
    }
    waiting.set(job.id, waitingReason(job, explanation, ahead));
    aheadInQueue.set(job.queue, ahead + 1);
  }
  return { placements, waiting, reservations };
}

/** QUOTA or BUDGET when the job's project may not start it now. */
function projectLimitReason(job: RunnableJob, limits: ProjectLimits, held: number): string | undefined {
  if (limits.budgetSpent) return budgetReason(job.project!, limits.budgetSpent);
  const gpus = job.resources.gpus;
  if (gpus > 0 && limits.gpuQuota !== null && held + gpus > limits.gpuQuota) return quotaReason(job.project!, held, limits.gpuQuota, gpus);
  return undefined;
}

const shapeKeys = new WeakMap<RunnableJob, string>();

/** Jobs with the same key fit the same workers (timeouts aside, which only matter on reserved workers). */
function shapeKey(job: RunnableJob): string {
  let key = shapeKeys.get(job);
  if (key === undefined) {
    key = computeShapeKey(job);
    shapeKeys.set(job, key);
  }
  return key;
}

function computeShapeKey(job: RunnableJob): string {
  const r = job.resources;
  return [
    toMilliCpu(r.vcpus), r.memoryMiB, r.gpus, r.gpuModel?.join('|') ?? '', job.pools.join(','),
    job.labelSelector ? JSON.stringify(job.labelSelector) : '',
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

  /** The best fit in the first of the job's pools (in its order of preference) that has one. */
  preferredFit(job: RunnableJob, now: number): WorkerState | undefined {
    if (job.pools.length <= 1) return this.bestFit(job, now);
    for (const pool of job.pools) {
      const w = this.bestFit(job, now, pool);
      if (w) return w;
    }
    return undefined;
  }

  /** The first worker in the lowest bucket that fits and respects reservations (in `pool`, when given). */
  private bestFit(job: RunnableJob, now: number, pool?: string): WorkerState | undefined {
    for (let n = job.resources.gpus; n < this.buckets.length; n++) {
      for (const w of this.buckets[n]) {
        if ((pool !== undefined && w.node.pool !== pool) || !w.fitsNow(job) || !w.admits(job)) continue;
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

