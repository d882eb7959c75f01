import { describeResources, toMilliCpu, type Resources } from './resources.js';

/** A worker as the scheduler sees it: capacity and what is already held. */
export interface WorkerNode {
  id: string;
  pool: string;
  /** False for DRAINING or LOST workers: nothing new is placed on them. */
  schedulable: boolean;
  capacity: { vcpus: number; memoryMiB: number; gpuIndices: readonly number[] };
  allocated: { vcpus: number; memoryMiB: number; gpuIndices: readonly number[] };
}

/** A job waiting for capacity. */
export interface RunnableJob {
  id: string;
  queue: string;
  /** The job queue's priority: higher goes first. */
  queuePriority: number;
  /** The job's own priority inside its queue: higher goes first. */
  priority: number;
  /** Submit time in epoch milliseconds: earlier goes first. */
  submittedAt: number;
  resources: Resources;
  /** Pools allowed to run it (from its queue); empty means any pool. */
  pools: readonly string[];
}

export interface Placement {
  jobId: string;
  workerId: string;
  /** GPU device indices on the worker, ascending. */
  gpuDevices: number[];
}

export interface PlacementResult {
  placements: Placement[];
  /** A reason, for a person, for every job left waiting. */
  waiting: Map<string, string>;
}

/** Scheduling order: queue priority, then job priority (both higher first), then submit time, then id. */
export function compareJobs(a: RunnableJob, b: RunnableJob): number {
  return (
    b.queuePriority - a.queuePriority ||
    b.priority - a.priority ||
    a.submittedAt - b.submittedAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

interface Free {
  node: WorkerNode;
  milliCpu: number;
  memoryMiB: number;
  gpus: number[]; // free device indices, ascending
}

/**
 * Decides which runnable jobs start now and where. Pure: it reads its inputs
 * and returns placements; nothing is mutated. No worker ends up over its
 * vCPUs, memory or GPUs, and no GPU device is given twice.
 */
export function place(workers: readonly WorkerNode[], jobs: readonly RunnableJob[]): PlacementResult {
  const free: Free[] = workers.map((node) => {
    const held = new Set(node.allocated.gpuIndices);
    return {
      node,
      milliCpu: toMilliCpu(node.capacity.vcpus) - toMilliCpu(node.allocated.vcpus),
      memoryMiB: node.capacity.memoryMiB - node.allocated.memoryMiB,
      gpus: [...node.capacity.gpuIndices].filter((i) => !held.has(i)).sort((x, y) => x - y),
    };
  });
  const placements: Placement[] = [];
  const waiting = new Map<string, string>();

  for (const job of [...jobs].sort(compareJobs)) {
    const candidates = free.filter((f) => f.node.schedulable && inPools(f.node, job.pools));
    const best = bestFit(candidates, job.resources);
    if (!best) {
      waiting.set(job.id, waitingReason(job, workers));
      continue;
    }
    const gpuDevices = chooseGpus(best.gpus, job.resources.gpus);
    best.milliCpu -= toMilliCpu(job.resources.vcpus);
    best.memoryMiB -= job.resources.memoryMiB;
    best.gpus = best.gpus.filter((i) => !gpuDevices.includes(i));
    placements.push({ jobId: job.id, workerId: best.node.id, gpuDevices });
  }
  return { placements, waiting };
}

function inPools(node: WorkerNode, pools: readonly string[]): boolean {
  return pools.length === 0 || pools.includes(node.pool);
}

function fitsIn(f: Free, r: Resources): boolean {
  return f.milliCpu >= toMilliCpu(r.vcpus) && f.memoryMiB >= r.memoryMiB && f.gpus.length >= r.gpus;
}

/** Best fit: the worker left with the fewest free GPUs, then the fewest free vCPUs, so big blocks stay whole. */
function bestFit(candidates: Free[], r: Resources): Free | undefined {
  let best: Free | undefined;
  for (const f of candidates) {
    if (!fitsIn(f, r)) continue;
    if (
      !best ||
      f.gpus.length < best.gpus.length ||
      (f.gpus.length === best.gpus.length && f.milliCpu < best.milliCpu)
    ) {
      best = f;
    }
  }
  return best;
}

/** The lowest run of `count` consecutive free indices if there is one, else the lowest free ones. */
export function chooseGpus(freeIndices: readonly number[], count: number): number[] {
  if (count === 0) return [];
  for (let start = 0; start + count <= freeIndices.length; start++) {
    if (freeIndices[start + count - 1] - freeIndices[start] === count - 1) {
      return freeIndices.slice(start, start + count);
    }
  }
  return freeIndices.slice(0, count);
}

function waitingReason(job: RunnableJob, workers: readonly WorkerNode[]): string {
  const poolText = job.pools.length ? `in pools [${job.pools.join(', ')}] ` : '';
  const eligible = workers.filter((w) => w.schedulable && inPools(w, job.pools));
  if (eligible.length === 0) return `UNSCHEDULABLE: no active worker ${poolText}to run it`;
  const r = job.resources;
  const everFits = eligible.some(
    (w) =>
      toMilliCpu(w.capacity.vcpus) >= toMilliCpu(r.vcpus) &&
      w.capacity.memoryMiB >= r.memoryMiB &&
      w.capacity.gpuIndices.length >= r.gpus,
  );
  if (!everFits) {
    const largest = Math.max(...eligible.map((w) => w.capacity.gpuIndices.length));
    const maxCpu = Math.max(...eligible.map((w) => w.capacity.vcpus));
    const maxMem = Math.max(...eligible.map((w) => w.capacity.memoryMiB));
    return (
      `UNSCHEDULABLE: no worker ${poolText}has ${describeResources(r)} ` +
      `(largest: ${maxCpu} vCPU, ${maxMem} MiB, ${largest} GPU)`
    );
  }
  return `RESOURCE: needs ${describeResources(r)}; no worker ${poolText}has that free now`;
}
