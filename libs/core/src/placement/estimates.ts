import { toMilliCpu } from '../resources.js';
import type { RunnableJob, RunningAttempt } from './types.js';
import type { WorkerState } from './worker-state.js';

/**
 * Until when (epoch ms) what a pass decided stays the same as the clock moves
 * on: each use of `now` whose outcome would change later narrows it. A pass
 * is synchronous, so one window at a time; `schedule` opens it and reads it.
 */
let nowWindow = { now: 0, until: Infinity };

/** Starts tracking how long the outcomes computed at `now` hold. */
export function openNowWindow(now: number): void {
  nowWindow = { now, until: Infinity };
}

/** The latest time at which every outcome computed since openNowWindow is still the same. */
export function nowWindowEnd(): number {
  return nowWindow.until;
}

/** An outcome computed from `now` holds until `until` (`now` itself: only at this very time). */
export function holdsUntil(until: number): void {
  if (until < nowWindow.until) nowWindow.until = until;
}

interface Ends {
  now: number;
  /** Every `end` stays as it is until this time (the earliest attempt's end, or `now` when one is overdue). */
  validUntil: number;
  length: number;
  /** The attempts by end time (start + timeout, at least now); Infinity without a timeout. */
  sorted: { a: RunningAttempt; end: number }[];
  /** What the first k + 1 attempts of `sorted` give back together: vCPUs in thousandths, memory, GPUs of any model. */
  milliCpuFreed: Float64Array;
  memoryFreed: Float64Array;
  gpusFreed: Float64Array;
}

// A pass asks up to once per reservation about every worker: sort each worker's attempts once, not per question.
// Keyed by the attempt list, which lives for one pass; a list that grew (placements of this pass) is sorted again.
const endsByList = new WeakMap<readonly RunningAttempt[], Ends>();

function endsOf(attempts: readonly RunningAttempt[], now: number): Ends {
  const cached = endsByList.get(attempts);
  if (cached && cached.now === now && cached.length === attempts.length) {
    holdsUntil(cached.validUntil);
    return cached;
  }
  const sorted = attempts
    .map((a) => ({ a, end: a.timeoutSeconds === null ? Infinity : Math.max(now, a.startedAt + a.timeoutSeconds * 1000) }))
    .sort((x, y) => x.end - y.end);
  const milliCpuFreed = new Float64Array(sorted.length);
  const memoryFreed = new Float64Array(sorted.length);
  const gpusFreed = new Float64Array(sorted.length);
  let cpu = 0;
  let memory = 0;
  let gpus = 0;
  for (let k = 0; k < sorted.length; k++) {
    const a = sorted[k].a;
    milliCpuFreed[k] = cpu += toMilliCpu(a.vcpus);
    memoryFreed[k] = memory += a.memoryMiB;
    gpusFreed[k] = gpus += a.gpuIndices.length;
  }
  // An end later than now stays put until the clock passes it; an overdue one (clamped to now) moves with the clock.
  let validUntil = Infinity;
  for (const a of attempts) {
    if (a.timeoutSeconds === null) continue;
    const end = a.startedAt + a.timeoutSeconds * 1000;
    validUntil = Math.min(validUntil, end <= now ? now : end);
  }
  const ends = { now, validUntil, length: attempts.length, sorted, milliCpuFreed, memoryFreed, gpusFreed };
  endsByList.set(attempts, ends);
  holdsUntil(validUntil);
  return ends;
}

/**
 * When the job will fit on `w`, judged from the running attempts' start plus
 * timeout; undefined when an attempt in the way has no timeout.
 */
export function estimatedStart(job: RunnableJob, w: WorkerState, attempts: RunningAttempt[], now: number): number | undefined {
  const r = job.resources;
  const ends = endsOf(attempts, now);
  const needCpu = toMilliCpu(r.vcpus) - w.milliCpu;
  const needMemory = r.memoryMiB - w.memoryMiB;
  const needGpus = r.gpus - w.freeCountFor(job);
  if (!r.gpuModel?.length) {
    for (let k = 0; k < ends.sorted.length; k++) {
      if (ends.sorted[k].end === Infinity) return undefined;
      if (ends.milliCpuFreed[k] >= needCpu && ends.memoryFreed[k] >= needMemory && ends.gpusFreed[k] >= needGpus) return ends.sorted[k].end;
    }
    return undefined;
  }
  // Only GPUs of an allowed model count.
  const matching = w.matchingIndices(r.gpuModel);
  let gpus = 0;
  for (let k = 0; k < ends.sorted.length; k++) {
    const { a, end } = ends.sorted[k];
    if (end === Infinity) return undefined;
    for (const i of a.gpuIndices) if (matching.has(i)) gpus++;
    if (ends.milliCpuFreed[k] >= needCpu && ends.memoryFreed[k] >= needMemory && gpus >= needGpus) return end;
  }
  return undefined;
}

/** EASY backfill: a job may use a reserved worker only if its timeout ends before the reservation starts. */
export function endsBefore(job: RunnableJob, now: number, startAt: number): boolean {
  if (job.timeoutSeconds === null || job.timeoutSeconds === undefined) return false;
  const latest = startAt - job.timeoutSeconds * 1000;
  // True now, false once the clock passes `latest`; false stays false as time goes on.
  if (now <= latest) {
    holdsUntil(latest);
    return true;
  }
  return false;
}
