import { modelMatches } from '../gpu-model.js';
import { toMilliCpu } from '../resources.js';
import type { RunnableJob, RunningAttempt } from './types.js';
import type { WorkerState } from './worker-state.js';

interface Ends {
  now: number;
  length: number;
  /** The attempts by end time (start + timeout, at least now); Infinity without a timeout. */
  sorted: { a: RunningAttempt; end: number }[];
}

// A pass asks up to once per reservation about every worker: sort each worker's attempts once, not per question.
// Keyed by the attempt list, which lives for one pass; a list that grew (placements of this pass) is sorted again.
const endsByList = new WeakMap<readonly RunningAttempt[], Ends>();

function endsOf(attempts: readonly RunningAttempt[], now: number): Ends['sorted'] {
  const cached = endsByList.get(attempts);
  if (cached && cached.now === now && cached.length === attempts.length) return cached.sorted;
  const sorted = attempts
    .map((a) => ({ a, end: a.timeoutSeconds === null ? Infinity : Math.max(now, a.startedAt + a.timeoutSeconds * 1000) }))
    .sort((x, y) => x.end - y.end);
  endsByList.set(attempts, { now, length: attempts.length, sorted });
  return sorted;
}

/**
 * When the job will fit on `w`, judged from the running attempts' start plus
 * timeout; undefined when an attempt in the way has no timeout.
 */
export function estimatedStart(job: RunnableJob, w: WorkerState, attempts: RunningAttempt[], now: number): number | undefined {
  const r = job.resources;
  const constrained = !!r.gpuModel?.length;
  const matching = constrained ? new Set(w.node.capacity.gpus.filter((g) => modelMatches(r.gpuModel, g.model)).map((g) => g.index)) : undefined;
  let gpus = w.freeCountFor(job);
  let milliCpu = w.milliCpu;
  let memoryMiB = w.memoryMiB;
  const needCpu = toMilliCpu(r.vcpus);
  for (const { a, end } of endsOf(attempts, now)) {
    if (end === Infinity) return undefined;
    milliCpu += toMilliCpu(a.vcpus);
    memoryMiB += a.memoryMiB;
    if (matching) {
      for (const i of a.gpuIndices) if (matching.has(i)) gpus++;
    } else gpus += a.gpuIndices.length;
    if (milliCpu >= needCpu && memoryMiB >= r.memoryMiB && gpus >= r.gpus) return end;
  }
  return undefined;
}

/** EASY backfill: a job may use a reserved worker only if its timeout ends before the reservation starts. */
export function endsBefore(job: RunnableJob, now: number, startAt: number): boolean {
  return job.timeoutSeconds !== null && job.timeoutSeconds !== undefined && now + job.timeoutSeconds * 1000 <= startAt;
}
