import { modelMatches } from '../gpu-model.js';
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

  constructor(readonly node: WorkerNode) {
    const held = new Set(node.allocated.gpuIndices);
    this.milliCpu = toMilliCpu(node.capacity.vcpus) - toMilliCpu(node.allocated.vcpus);
    this.memoryMiB = node.capacity.memoryMiB - node.allocated.memoryMiB;
    this.free = node.capacity.gpus.filter((g) => !held.has(g.index)).sort((a, b) => a.index - b.index);
    this.initialFree = { milliCpu: this.milliCpu, memoryMiB: this.memoryMiB, gpus: this.free.length };
  }

  /** Pool and labels allow the job here (capacity aside). */
  admits(job: RunnableJob): boolean {
    return (job.pools.length === 0 || job.pools.includes(this.node.pool)) && labelsMatch(job.labelSelector, this.node.labels ?? {});
  }

  freeGpusFor(job: RunnableJob): GpuSlot[] {
    const constraint = job.resources.gpuModel;
    return constraint?.length ? this.free.filter((g) => modelMatches(constraint, g.model)) : this.free;
  }

  fitsNow(job: RunnableJob): boolean {
    const r = job.resources;
    if (this.milliCpu < toMilliCpu(r.vcpus) || this.memoryMiB < r.memoryMiB || this.free.length < r.gpus) return false;
    return r.gpus === 0 || this.freeGpusFor(job).length >= r.gpus;
  }

  /** Whether the whole worker, empty, could ever run the job. */
  couldEverFit(job: RunnableJob): boolean {
    const r = job.resources;
    const cap = this.node.capacity;
    if (toMilliCpu(cap.vcpus) < toMilliCpu(r.vcpus) || cap.memoryMiB < r.memoryMiB) return false;
    if (r.gpus === 0) return true;
    return cap.gpus.filter((g) => modelMatches(r.gpuModel, g.model)).length >= r.gpus;
  }

  take(job: RunnableJob, gpuDevices: number[]): void {
    this.milliCpu -= toMilliCpu(job.resources.vcpus);
    this.memoryMiB -= job.resources.memoryMiB;
    if (gpuDevices.length) this.free = this.free.filter((g) => !gpuDevices.includes(g.index));
  }
}
