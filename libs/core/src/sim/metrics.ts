import type { JobRecord, SimMetrics } from './types.js';

/** Scheduler-side counters gathered during a run. */
export interface CallStats {
  scheduleCalls: number;
  scheduleCpuMs: number;
  scheduleWallMs: number;
  maxScheduleCallMs: number;
  maxWaiting: number;
}

export const NO_CALLS: CallStats = { scheduleCalls: 0, scheduleCpuMs: 0, scheduleWallMs: 0, maxScheduleCallMs: 0, maxWaiting: 0 };

/** Nearest-rank percentile (p in 0..100) of values sorted ascending; 0 for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/**
 * Metrics of one run. `capacityGpuSeconds` defaults to clusterGpus ×
 * makespan; pass it to combine runs whose makespans differ.
 */
export function computeMetrics(
  records: readonly JobRecord[],
  clusterGpus: number,
  unplaceableJobs: number,
  calls: CallStats,
  capacityGpuSeconds?: number,
): SimMetrics {
  const delays = records.map((r) => (r.startMs - r.submitMs) / 1000).sort((a, b) => a - b);
  let firstSubmit = Infinity;
  let lastFinish = -Infinity;
  let delaySum = 0;
  let completionSum = 0;
  let busy = 0;
  for (const r of records) {
    firstSubmit = Math.min(firstSubmit, r.submitMs);
    lastFinish = Math.max(lastFinish, r.finishMs);
    delaySum += (r.startMs - r.submitMs) / 1000;
    completionSum += (r.finishMs - r.submitMs) / 1000;
    busy += (r.gpus * (r.finishMs - r.startMs)) / 1000;
  }
  const n = records.length;
  const makespan = n ? (lastFinish - firstSubmit) / 1000 : 0;
  const capacity = capacityGpuSeconds ?? clusterGpus * makespan;
  return {
    jobs: n,
    unplaceableJobs,
    avgQueueingDelaySeconds: n ? delaySum / n : 0,
    p95QueueingDelaySeconds: percentile(delays, 95),
    maxQueueingDelaySeconds: n ? delays[n - 1] : 0,
    avgJobCompletionSeconds: n ? completionSum / n : 0,
    gpuUtilization: capacity > 0 ? busy / capacity : 0,
    makespanSeconds: makespan,
    busyGpuSeconds: busy,
    capacityGpuSeconds: capacity,
    ...calls,
  };
}

/**
 * Totals over independent runs (e.g. one per virtual cluster): delays and
 * completion times over all their jobs, utilization as summed busy over
 * summed capacity (each run's GPUs × its own makespan), makespan from the
 * first submit to the last finish of any run, scheduler counters summed
 * (maxima for the max fields).
 */
export function combineRuns(runs: readonly { records: readonly JobRecord[]; metrics: SimMetrics }[]): SimMetrics {
  const records = runs.flatMap((r) => r.records);
  const calls: CallStats = {
    scheduleCalls: sum(runs.map((r) => r.metrics.scheduleCalls)),
    scheduleCpuMs: sum(runs.map((r) => r.metrics.scheduleCpuMs)),
    scheduleWallMs: sum(runs.map((r) => r.metrics.scheduleWallMs)),
    maxScheduleCallMs: Math.max(0, ...runs.map((r) => r.metrics.maxScheduleCallMs)),
    maxWaiting: Math.max(0, ...runs.map((r) => r.metrics.maxWaiting)),
  };
  const unplaceable = sum(runs.map((r) => r.metrics.unplaceableJobs));
  return computeMetrics(records, 0, unplaceable, calls, sum(runs.map((r) => r.metrics.capacityGpuSeconds)));
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
