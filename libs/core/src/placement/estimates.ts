import { modelMatches } from '../gpu-model.js';
import { toMilliCpu } from '../resources.js';
import type { RunnableJob, RunningAttempt } from './types.js';
import type { WorkerState } from './worker-state.js';

/**
 * When the job will fit on `w`, judged from the running attempts' start plus
 * timeout; undefined when an attempt in the way has no timeout.
 */
export function estimatedStart(job: RunnableJob, w: WorkerState, attempts: RunningAttempt[], now: number): number | undefined {
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

/** EASY backfill: a job may use a reserved worker only if its timeout ends before the reservation starts. */
export function endsBefore(job: RunnableJob, now: number, startAt: number): boolean {
  return job.timeoutSeconds !== null && job.timeoutSeconds !== undefined && now + job.timeoutSeconds * 1000 <= startAt;
}
