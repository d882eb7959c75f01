import { modelMatches, type GpuModelConstraint } from '../gpu-model.js';
import { labelsMatch } from '../labels.js';
import { toMilliCpu } from '../resources.js';
import type { GpuSlot, RunnableJob, WorkerNode } from './types.js';

/** A worker's free resources during one pass; the core's only mutable state. */
export class WorkerState {
  milliCpu: number;
  memoryMiB: number;
  free: GpuSlot[];
  /** Set when a blocked job reserved this worker: later jobs must end before `startAt`. */
  reservation: { jobId: string; startAt: number } | undefined;
  readonly initialFree: { milliCpu: number; memoryMiB: number; gpus: number };
  /** Its GPUs counted by model name: a worker has one or two models, and the core asks per job shape. */
  readonly capacityByModel: readonly { model: string; count: number }[];
  private readonly capacityMilliCpu: number;

  constructor(readonly node: WorkerNode) {
    const held = new Set(node.allocated.gpuIndices);
    this.capacityMilliCpu = toMilliCpu(node.capacity.vcpus);
    this.milliCpu = this.capacityMilliCpu - toMilliCpu(node.allocated.vcpus);
    this.memoryMiB = node.capacity.memoryMiB - node.allocated.memoryMiB;
    this.free = node.capacity.gpus.filter((g) => !held.has(g.index)).sort((a, b) => a.index - b.index);
    this.initialFree = { milliCpu: this.milliCpu, memoryMiB: this.memoryMiB, gpus: this.free.length };
    const byModel: { model: string; count: number }[] = [];
    for (const g of node.capacity.gpus) {
      const entry = byModel.find((m) => m.model === g.model);
      if (entry) entry.count++;
      else byModel.push({ model: g.model, count: 1 });
    }
    this.capacityByModel = byModel;
  }

  /** Pool and labels allow the job here (capacity aside). */
  admits(job: RunnableJob): boolean {
    return (job.pools.length === 0 || job.pools.includes(this.node.pool)) && labelsMatch(job.labelSelector, this.node.labels ?? {});
  }

  freeGpusFor(job: RunnableJob): GpuSlot[] {
    const constraint = job.resources.gpuModel;
    return constraint?.length ? this.free.filter((g) => modelMatches(constraint, g.model)) : this.free;
  }

  /** How many free GPUs of an allowed model it has: freeGpusFor(job).length without the copy. */
  freeCountFor(job: RunnableJob): number {
    const constraint = job.resources.gpuModel;
    if (!constraint?.length) return this.free.length;
    let n = 0;
    for (const g of this.free) if (modelMatches(constraint, g.model)) n++;
    return n;
  }

  /** How many of its GPUs, free or not, are of an allowed model. */
  capacityCountFor(constraint: GpuModelConstraint | undefined): number {
    let n = 0;
    for (const m of this.capacityByModel) if (modelMatches(constraint, m.model)) n += m.count;
    return n;
  }

  private matchingByConstraint: Map<string, ReadonlySet<number>> | undefined;

  /** The indices of its GPUs, free or not, of an allowed model (worked out once per constraint). */
  matchingIndices(constraint: GpuModelConstraint): ReadonlySet<number> {
    const key = constraint.join('|');
    this.matchingByConstraint ??= new Map();
    let indices = this.matchingByConstraint.get(key);
    if (!indices) {
      indices = new Set(this.node.capacity.gpus.filter((g) => modelMatches(constraint, g.model)).map((g) => g.index));
      this.matchingByConstraint.set(key, indices);
    }
    return indices;
  }

  fitsNow(job: RunnableJob): boolean {
    const r = job.resources;
    if (this.milliCpu < toMilliCpu(r.vcpus) || this.memoryMiB < r.memoryMiB || this.free.length < r.gpus) return false;
    return r.gpus === 0 || this.freeCountFor(job) >= r.gpus;
  }

  /** Whether the whole worker, empty, could ever run the job. */
  couldEverFit(job: RunnableJob): boolean {
    const r = job.resources;
    if (this.capacityMilliCpu < toMilliCpu(r.vcpus) || this.node.capacity.memoryMiB < r.memoryMiB) return false;
    if (r.gpus === 0) return true;
    return this.capacityCountFor(r.gpuModel) >= r.gpus;
  }

  take(job: RunnableJob, gpuDevices: number[]): void {
    this.milliCpu -= toMilliCpu(job.resources.vcpus);
    this.memoryMiB -= job.resources.memoryMiB;
    if (gpuDevices.length) this.free = this.free.filter((g) => !gpuDevices.includes(g.index));
  }
}
