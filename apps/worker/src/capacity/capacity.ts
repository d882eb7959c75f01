import { hostname } from 'node:os';
import type { WorkerConfig } from '#libs/config';
import type { GpuDevice, WorkerDescriptor } from '#libs/queue';

/** A declared capacity that makes no sense; the worker refuses to start on it. */
export class CapacityError extends Error {
  constructor(message: string) {
    super(`invalid worker capacity: ${message}`);
    this.name = 'CapacityError';
  }
}

/** What this worker declares when it joins the pool; throws CapacityError on nonsense. */
export function declareCapacity(
  config: Pick<WorkerConfig, 'workerId' | 'pool' | 'vcpus' | 'memoryMiB'> & Partial<Pick<WorkerConfig, 'labels' | 'advertiseAddress'>>,
  gpus: GpuDevice[],
  now: number = Date.now(),
): WorkerDescriptor {
  const descriptor: WorkerDescriptor = {
    id: config.workerId,
    pool: config.pool,
    hostname: hostname(),
    ...(config.advertiseAddress ? { address: config.advertiseAddress } : {}),
    vcpus: config.vcpus,
    memoryMiB: config.memoryMiB,
    gpus: [...gpus].sort((a, b) => a.index - b.index),
    labels: config.labels ?? {},
    state: 'ACTIVE',
    heartbeatAt: now,
    startedAt: now,
  };
  validateCapacity(descriptor);
  return descriptor;
}

/** Throws a CapacityError naming the first problem found. */
export function validateCapacity(capacity: Pick<WorkerDescriptor, 'vcpus' | 'memoryMiB' | 'gpus'>): void {
  if (!Number.isFinite(capacity.vcpus) || capacity.vcpus <= 0) {
    throw new CapacityError(`vcpus must be a positive number, got ${capacity.vcpus}`);
  }
  if (!Number.isInteger(capacity.memoryMiB) || capacity.memoryMiB <= 0) {
    throw new CapacityError(`memoryMiB must be a positive integer, got ${capacity.memoryMiB}`);
  }
  const indices = new Set<number>();
  const uuids = new Set<string>();
  for (const gpu of capacity.gpus) {
    if (!Number.isInteger(gpu.index) || gpu.index < 0) {
      throw new CapacityError(`GPU index must be a non-negative integer, got ${gpu.index}`);
    }
    if (indices.has(gpu.index)) throw new CapacityError(`GPU index ${gpu.index} is declared twice`);
    indices.add(gpu.index);
    if (gpu.uuid !== null) {
      if (uuids.has(gpu.uuid)) throw new CapacityError(`GPU uuid ${gpu.uuid} is declared twice`);
      uuids.add(gpu.uuid);
    }
    if (!Number.isInteger(gpu.memoryMiB) || gpu.memoryMiB <= 0) {
      throw new CapacityError(`GPU ${gpu.index} memoryMiB must be a positive integer, got ${gpu.memoryMiB}`);
    }
  }
}
