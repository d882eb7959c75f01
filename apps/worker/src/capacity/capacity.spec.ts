import type { GpuDevice } from '#libs/queue';
import { CapacityError, declareCapacity, validateCapacity } from './capacity.js';

const gpu = (index: number, uuid: string | null = `GPU-${index}`): GpuDevice => ({ index, uuid, model: 'A100', memoryMiB: 81920 });
const config = { workerId: 'w1', pool: 'default', vcpus: 8, memoryMiB: 65536 };

describe('declareCapacity', () => {
  it('describes an ACTIVE worker with its GPUs in index order', () => {
    const descriptor = declareCapacity(config, [gpu(1), gpu(0)], 1_000);
    expect(descriptor).toMatchObject({ id: 'w1', pool: 'default', vcpus: 8, memoryMiB: 65536, state: 'ACTIVE', heartbeatAt: 1_000, startedAt: 1_000 });
    expect(descriptor.gpus.map((g) => g.index)).toEqual([0, 1]);
    expect(descriptor.hostname).toEqual(expect.any(String));
  });

  it('refuses nonsense capacity', () => {
    expect(() => declareCapacity({ ...config, vcpus: 0 }, [])).toThrow(CapacityError);
  });
});

describe('validateCapacity', () => {
  const ok = { vcpus: 0.5, memoryMiB: 512, gpus: [gpu(0), gpu(1, null), gpu(2, null)] };

  it('accepts fractional vCPUs and GPUs without uuids', () => {
    expect(() => validateCapacity(ok)).not.toThrow();
  });

  it.each([
    ['zero vcpus', { ...ok, vcpus: 0 }, /vcpus must be a positive number, got 0/],
    ['negative vcpus', { ...ok, vcpus: -2 }, /vcpus must be a positive number, got -2/],
    ['NaN vcpus', { ...ok, vcpus: Number.NaN }, /vcpus/],
    ['zero memory', { ...ok, memoryMiB: 0 }, /memoryMiB must be a positive integer, got 0/],
    ['negative memory', { ...ok, memoryMiB: -1 }, /memoryMiB must be a positive integer, got -1/],
    ['a duplicate GPU index', { ...ok, gpus: [gpu(0, 'GPU-a'), gpu(0, 'GPU-b')] }, /GPU index 0 is declared twice/],
    ['a duplicate GPU uuid', { ...ok, gpus: [gpu(0, 'GPU-a'), gpu(1, 'GPU-a')] }, /GPU uuid GPU-a is declared twice/],
    ['a negative GPU index', { ...ok, gpus: [gpu(-1)] }, /GPU index must be a non-negative integer, got -1/],
    ['a fractional GPU index', { ...ok, gpus: [gpu(1.5)] }, /GPU index must be a non-negative integer, got 1.5/],
    ['GPU memory of zero', { ...ok, gpus: [{ ...gpu(0), memoryMiB: 0 }] }, /GPU 0 memoryMiB/],
  ])('refuses %s with an error naming it', (_why, capacity, message) => {
    expect(() => validateCapacity(capacity)).toThrow(CapacityError);
    expect(() => validateCapacity(capacity)).toThrow(message);
  });
});
