import { toMilliCpu, type Resources } from '#libs/core';

/** A runnable job as the leader keeps it in memory. */
export interface RunnableEntry {
  id: string;
  queue: string;
  priority: number;
  submittedAt: number;
  resources: Resources;
}

/** What one attempt holds on its worker. */
export interface Held {
  milliCpu: number;
  memoryMiB: number;
  gpuDevices: number[];
}

/**
 * The leader's live model: runnable jobs and what every attempt holds on
 * each worker. Rebuilt from Postgres whenever a scheduler becomes leader.
 */
export class ClusterState {
  readonly runnable = new Map<string, RunnableEntry>();
  /** The reason last written for each waiting job, so unchanged reasons are not rewritten. */
  readonly reasons = new Map<string, string>();
  private readonly held = new Map<string, Map<string, Held>>();

  static attemptKey(jobId: string, attempt: number): string {
    return `${jobId}.${attempt}`;
  }

  hold(workerId: string, attemptKey: string, resources: { vcpus: number; memoryMiB: number; gpuDevices: number[] }): void {
    let onWorker = this.held.get(workerId);
    if (!onWorker) this.held.set(workerId, (onWorker = new Map()));
    onWorker.set(attemptKey, { milliCpu: toMilliCpu(resources.vcpus), memoryMiB: resources.memoryMiB, gpuDevices: resources.gpuDevices });
  }

  /** Frees an attempt's resources; false when it held none (already released). */
  release(workerId: string, attemptKey: string): boolean {
    return this.held.get(workerId)?.delete(attemptKey) ?? false;
  }

  allocatedOn(workerId: string): { vcpus: number; memoryMiB: number; gpuIndices: number[] } {
    let milliCpu = 0;
    let memoryMiB = 0;
    const gpuIndices: number[] = [];
    for (const h of this.held.get(workerId)?.values() ?? []) {
      milliCpu += h.milliCpu;
      memoryMiB += h.memoryMiB;
      gpuIndices.push(...h.gpuDevices);
    }
    return { vcpus: milliCpu / 1000, memoryMiB, gpuIndices };
  }

  clear(): void {
    this.runnable.clear();
    this.reasons.clear();
    this.held.clear();
  }
}
