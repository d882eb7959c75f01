import fc from 'fast-check';
import { chooseGpus, compareJobs, place, type RunnableJob, type WorkerNode } from './placement.js';

function worker(id: string, over: Partial<WorkerNode> = {}): WorkerNode {
  return {
    id, pool: 'default', schedulable: true,
    capacity: { vcpus: 8, memoryMiB: 32768, gpuIndices: [0, 1, 2, 3, 4, 5, 6, 7] },
    allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: [] },
    ...over,
  };
}

function job(id: string, over: Partial<RunnableJob> = {}): RunnableJob {
  return {
    id, queue: 'q', queuePriority: 0, priority: 0, submittedAt: 0,
    resources: { vcpus: 1, memoryMiB: 1024, gpus: 0 }, pools: [], ...over,
  };
}

describe('place', () => {
  it('orders by queue priority, then job priority, then submit time', () => {
    const jobs = [
      job('late', { submittedAt: 2 }),
      job('early', { submittedAt: 1 }),
      job('urgent', { priority: 5, submittedAt: 3 }),
      job('high-queue', { queuePriority: 10, submittedAt: 4 }),
    ];
    expect([...jobs].sort(compareJobs).map((j) => j.id)).toEqual(['high-queue', 'urgent', 'early', 'late']);
  });

  it('gives the only free slot to the job from the higher-priority queue', () => {
    const w = worker('w1', { capacity: { vcpus: 1, memoryMiB: 1024, gpuIndices: [] } });
    const { placements, waiting } = place([w], [job('low', { submittedAt: 0 }), job('high', { queuePriority: 5, submittedAt: 9 })]);
    expect(placements.map((p) => p.jobId)).toEqual(['high']);
    expect(waiting.get('low')).toMatch(/^RESOURCE: needs 1 vCPU, 1024 MiB; no worker has that free now$/);
  });

  it('never over-commits vCPUs, memory or GPUs', () => {
    const w = worker('w1', { capacity: { vcpus: 2, memoryMiB: 4096, gpuIndices: [0, 1] } });
    const jobs = ['a', 'b', 'c'].map((id) => job(id, { resources: { vcpus: 1, memoryMiB: 1024, gpus: 1 } }));
    const { placements, waiting } = place([w], jobs);
    expect(placements).toHaveLength(2);
    expect(new Set(placements.flatMap((p) => p.gpuDevices))).toEqual(new Set([0, 1]));
    expect(waiting.has('c')).toBe(true);
  });

  it('counts fractional vCPUs exactly', () => {
    const w = worker('w1', { capacity: { vcpus: 0.3, memoryMiB: 4096, gpuIndices: [] } });
    const jobs = ['a', 'b', 'c', 'd'].map((id) => job(id, { resources: { vcpus: 0.1, memoryMiB: 1, gpus: 0 } }));
    expect(place([w], jobs).placements).toHaveLength(3);
  });

  it('respects what is already allocated', () => {
    const w = worker('w1', { allocated: { vcpus: 7.5, memoryMiB: 0, gpuIndices: [0, 1, 2, 3, 4, 5, 6] } });
    const { placements } = place([w], [job('g', { resources: { vcpus: 0.5, memoryMiB: 10, gpus: 1 } })]);
    expect(placements).toEqual([{ jobId: 'g', workerId: 'w1', gpuDevices: [7] }]);
  });

  it('keeps a whole 8-GPU machine free by packing a 1-GPU job onto the half-used one', () => {
    const empty = worker('empty');
    const half = worker('half', { allocated: { vcpus: 4, memoryMiB: 0, gpuIndices: [0, 1, 2, 3] } });
    const { placements } = place([empty, half], [job('one', { resources: { vcpus: 1, memoryMiB: 1, gpus: 1 } })]);
    expect(placements[0]).toMatchObject({ workerId: 'half', gpuDevices: [4] });
  });

  it('only uses workers in the queue\'s pools and never unschedulable ones', () => {
    const workers = [worker('cpu', { pool: 'cpu' }), worker('drain', { pool: 'gpu', schedulable: false }), worker('gpu', { pool: 'gpu' })];
    const { placements } = place(workers, [job('j', { pools: ['gpu'] })]);
    expect(placements[0].workerId).toBe('gpu');
  });

  it('says UNSCHEDULABLE when no worker could ever fit the job', () => {
    const { waiting } = place([worker('w1')], [job('big', { resources: { vcpus: 1, memoryMiB: 1, gpus: 16 } })]);
    expect(waiting.get('big')).toBe('UNSCHEDULABLE: no worker has 1 vCPU, 1 MiB, 16 GPU (largest: 8 vCPU, 32768 MiB, 8 GPU)');
  });

  it('says UNSCHEDULABLE when its pools have no active worker', () => {
    const { waiting } = place([worker('w1')], [job('j', { pools: ['gpu-a'] })]);
    expect(waiting.get('j')).toBe('UNSCHEDULABLE: no active worker in pools [gpu-a] to run it');
  });
});

describe('chooseGpus', () => {
  it('prefers the lowest contiguous run', () => {
    expect(chooseGpus([0, 2, 3, 5, 6, 7], 3)).toEqual([5, 6, 7]);
    expect(chooseGpus([0, 2, 3, 5, 6, 7], 2)).toEqual([2, 3]);
  });
  it('falls back to the lowest free devices', () => {
    expect(chooseGpus([0, 2, 4], 2)).toEqual([0, 2]);
    expect(chooseGpus([1, 2], 0)).toEqual([]);
  });
});

describe('place (properties)', () => {
  const workerArb = fc.record({
    vcpus: fc.integer({ min: 1, max: 64 }),
    memoryMiB: fc.integer({ min: 1, max: 65536 }),
    gpus: fc.integer({ min: 0, max: 8 }),
    usedGpus: fc.integer({ min: 0, max: 8 }),
    pool: fc.constantFrom('a', 'b'),
    schedulable: fc.boolean(),
  });
  const jobArb = fc.record({
    vcpus: fc.integer({ min: 1, max: 16000 }).map((m) => m / 1000),
    memoryMiB: fc.integer({ min: 1, max: 32768 }),
    gpus: fc.integer({ min: 0, max: 9 }),
    priority: fc.integer({ min: 0, max: 3 }),
    queuePriority: fc.integer({ min: 0, max: 3 }),
    pools: fc.constantFrom([], ['a'], ['b'], ['a', 'b']),
  });

  it('never over-commits a worker, never gives a GPU twice, and explains every waiting job', () => {
    fc.assert(
      fc.property(fc.array(workerArb, { maxLength: 6 }), fc.array(jobArb, { maxLength: 40 }), (ws, js) => {
        const workers: WorkerNode[] = ws.map((w, i) => {
          const all = Array.from({ length: w.gpus }, (_, g) => g);
          return {
            id: `w${i}`, pool: w.pool, schedulable: w.schedulable,
            capacity: { vcpus: w.vcpus, memoryMiB: w.memoryMiB, gpuIndices: all },
            allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: all.slice(0, Math.min(w.usedGpus, w.gpus)) },
          };
        });
        const jobs: RunnableJob[] = js.map((j, i) => ({
          id: `j${i}`, queue: 'q', queuePriority: j.queuePriority, priority: j.priority, submittedAt: i,
          resources: { vcpus: j.vcpus, memoryMiB: j.memoryMiB, gpus: j.gpus }, pools: j.pools,
        }));
        const { placements, waiting } = place(workers, jobs);

        for (const w of workers) {
          const mine = placements.filter((p) => p.workerId === w.id);
          const mineJobs = mine.map((p) => jobs.find((j) => j.id === p.jobId)!);
          if (mine.length > 0) expect(w.schedulable).toBe(true);
          const milli = mineJobs.reduce((s, j) => s + Math.round(j.resources.vcpus * 1000), 0);
          expect(milli).toBeLessThanOrEqual(w.capacity.vcpus * 1000);
          expect(mineJobs.reduce((s, j) => s + j.resources.memoryMiB, 0)).toBeLessThanOrEqual(w.capacity.memoryMiB);
          const devices = [...w.allocated.gpuIndices, ...mine.flatMap((p) => p.gpuDevices)];
          expect(new Set(devices).size).toBe(devices.length);
          for (const d of devices) expect(w.capacity.gpuIndices).toContain(d);
          for (const p of mine) {
            const j = jobs.find((x) => x.id === p.jobId)!;
            expect(p.gpuDevices).toHaveLength(j.resources.gpus);
            if (j.pools.length) expect(j.pools).toContain(w.pool);
          }
        }
        for (const j of jobs) {
          const placed = placements.some((p) => p.jobId === j.id);
          expect(placed !== waiting.has(j.id)).toBe(true);
          if (!placed) expect(waiting.get(j.id)).toMatch(/^(RESOURCE|UNSCHEDULABLE): /);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('places the first job in order whenever some worker can hold it', () => {
    fc.assert(
      fc.property(fc.array(workerArb, { minLength: 1, maxLength: 4 }), jobArb, (ws, j) => {
        const workers: WorkerNode[] = ws.map((w, i) => ({
          id: `w${i}`, pool: 'a', schedulable: true,
          capacity: { vcpus: w.vcpus, memoryMiB: w.memoryMiB, gpuIndices: Array.from({ length: w.gpus }, (_, g) => g) },
          allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: [] },
        }));
        const top = job('top', { queuePriority: 99, resources: { vcpus: j.vcpus, memoryMiB: j.memoryMiB, gpus: j.gpus } });
        const fits = workers.some((w) => w.capacity.vcpus >= j.vcpus && w.capacity.memoryMiB >= j.memoryMiB && w.capacity.gpuIndices.length >= j.gpus);
        const { placements } = place(workers, [job('other', { resources: { vcpus: 1, memoryMiB: 1, gpus: 0 } }), top]);
        expect(placements.some((p) => p.jobId === 'top')).toBe(fits);
      }),
      { numRuns: 300 },
    );
  });
});
