import fc from 'fast-check';
import { parseGpuModel } from '../gpu-model.js';
import { parseLabelSelector } from '../labels.js';
import { chooseGpus } from './gpu-choice.js';
import { orderJobs } from './order.js';
import { priorityReason } from './reasons.js';
import { schedule } from './schedule.js';
import { WorkerState } from './worker-state.js';
import type { GpuSlot, RunnableJob, RunningAttempt, ScheduleInput, WorkerNode } from './types.js';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const gpus = (n: number, model = 'A100'): GpuSlot[] => Array.from({ length: n }, (_, index) => ({ index, model }));

function worker(id: string, over: Partial<WorkerNode> = {}): WorkerNode {
  return {
    id, pool: 'default', schedulable: true, labels: {},
    capacity: { vcpus: 64, memoryMiB: 262144, gpus: gpus(8) },
    allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: [] },
    ...over,
  };
}

function job(id: string, over: Partial<RunnableJob> & { gpus?: number } = {}): RunnableJob {
  const { gpus: g = 0, ...rest } = over;
  return {
    id, queue: 'q', queuePriority: 0, priority: 0, submittedAt: NOW, pools: [],
    resources: { vcpus: 1, memoryMiB: 1024, gpus: g }, ...rest,
  };
}

const run = (input: Partial<ScheduleInput>) => schedule({ now: NOW, workers: [], jobs: [], ...input });

describe('schedule: order and fit', () => {
  it('orders by queue priority, then job priority, then submit time', () => {
    const jobs = [
      job('late', { submittedAt: 2 }), job('early', { submittedAt: 1 }),
      job('urgent', { priority: 5, submittedAt: 3 }), job('high-queue', { queue: 'hq', queuePriority: 10, submittedAt: 4 }),
    ];
    expect(orderJobs(jobs).map((j) => j.id)).toEqual(['high-queue', 'urgent', 'early', 'late']);
  });

  it('merges queues of equal priority by their jobs instead of draining one queue first', () => {
    const jobs = [job('a1', { queue: 'a', submittedAt: 1 }), job('a2', { queue: 'a', submittedAt: 3 }), job('b1', { queue: 'b', submittedAt: 2 })];
    expect(orderJobs(jobs).map((j) => j.id)).toEqual(['a1', 'b1', 'a2']);
  });

  it('gives the only free slot to the higher-priority queue and tells the other why', () => {
    const w = worker('w1', { capacity: { vcpus: 1, memoryMiB: 1024, gpus: [] } });
    const { placements, waiting } = run({ workers: [w], jobs: [job('low'), job('high', { queue: 'hq', queuePriority: 5, submittedAt: NOW + 9 })] });
    expect(placements.map((p) => p.jobId)).toEqual(['high']);
    expect(waiting.get('low')).toBe('RESOURCE: needs 1 vCPU, 1024 MiB; most free is 0 vCPU, 0 MiB on worker w1');
  });

  it('says PRIORITY with the count of jobs ahead when earlier jobs took the free capacity', () => {
    const w = worker('w1', { capacity: { vcpus: 2, memoryMiB: 4096, gpus: [] } });
    const { waiting } = run({ workers: [w], jobs: ['a', 'b', 'c', 'd'].map((id, i) => job(id, { submittedAt: NOW + i })) });
    expect(waiting.get('c')).toBe('RESOURCE: needs 1 vCPU, 1024 MiB; most free is 0 vCPU, 2048 MiB on worker w1');
    expect(waiting.get('d')).toBe('PRIORITY: 1 jobs ahead in queue q');
  });

  it('counts fractional vCPUs exactly', () => {
    const w = worker('w1', { capacity: { vcpus: 0.3, memoryMiB: 4096, gpus: [] } });
    const jobs = ['a', 'b', 'c', 'd'].map((id) => job(id, { resources: { vcpus: 0.1, memoryMiB: 1, gpus: 0 } }));
    expect(run({ workers: [w], jobs }).placements).toHaveLength(3);
  });

  it('keeps a whole 8-GPU machine free by packing a 1-GPU job onto the half-used one', () => {
    const empty = worker('empty');
    const half = worker('half', { allocated: { vcpus: 4, memoryMiB: 0, gpuIndices: [0, 1, 2, 3] } });
    const { placements } = run({ workers: [empty, half], jobs: [job('one', { gpus: 1 })] });
    expect(placements).toEqual([{ jobId: 'one', workerId: 'half', gpuDevices: [4] }]);
  });

  it('puts CPU-only jobs on GPU-less workers first', () => {
    const { placements } = run({ workers: [worker('gpu'), worker('cpu', { capacity: { vcpus: 8, memoryMiB: 8192, gpus: [] } })], jobs: [job('c')] });
    expect(placements[0].workerId).toBe('cpu');
  });

  it('honours pools, labels, GPU models and unschedulable workers', () => {
    const workers = [
      worker('cpu-pool', { pool: 'cpu' }),
      worker('draining', { pool: 'gpu', schedulable: false }),
      worker('t4', { pool: 'gpu', capacity: { vcpus: 64, memoryMiB: 262144, gpus: gpus(8, 'T4') }, labels: { zone: 'a' } }),
      worker('a100-b', { pool: 'gpu', labels: { zone: 'b' } }),
      worker('a100-a', { pool: 'gpu', labels: { zone: 'a', nvlink: 'true' } }),
    ];
    const { placements } = run({
      workers,
      jobs: [job('j', { gpus: 2, pools: ['gpu'], labelSelector: parseLabelSelector('zone=a,nvlink'), resources: { vcpus: 1, memoryMiB: 1, gpus: 2, gpuModel: parseGpuModel('A100|H100') } })],
    });
    expect(placements).toEqual([{ jobId: 'j', workerId: 'a100-a', gpuDevices: [0, 1] }]);
  });

  it('matches nvidia-smi model names by word', () => {
    const w = worker('w', { capacity: { vcpus: 8, memoryMiB: 8192, gpus: [{ index: 0, model: 'NVIDIA A100-SXM4-80GB' }] } });
    const ok = run({ workers: [w], jobs: [job('a', { resources: { vcpus: 1, memoryMiB: 1, gpus: 1, gpuModel: parseGpuModel('a100') } })] });
    expect(ok.placements).toHaveLength(1);
    const no = run({ workers: [w], jobs: [job('h', { resources: { vcpus: 1, memoryMiB: 1, gpus: 1, gpuModel: parseGpuModel('H100') } })] });
    expect(no.waiting.get('h')).toBe('UNSCHEDULABLE: no worker has 1 GPU (h100) (largest: 0)');
  });
});

describe('schedule: reasons for jobs that can never run', () => {
  it('names the pools and the largest GPU block', () => {
    const { waiting } = run({ workers: [worker('w1', { pool: 'gpu-a' })], jobs: [job('big', { gpus: 16, pools: ['gpu-a'] })] });
    expect(waiting.get('big')).toBe('UNSCHEDULABLE: no worker in pools [gpu-a] has 16 GPU (largest: 8)');
  });

  it('says when no active worker serves the pools', () => {
    const { waiting } = run({ workers: [worker('w1')], jobs: [job('j', { pools: ['gpu-a'] })] });
    expect(waiting.get('j')).toBe('UNSCHEDULABLE: no active worker in pools [gpu-a] to run it');
  });

  it('names vCPUs or memory when those are what no worker has', () => {
    const w = worker('w1', { capacity: { vcpus: 2, memoryMiB: 8192, gpus: [] } });
    expect(run({ workers: [w], jobs: [job('cpu', { resources: { vcpus: 16, memoryMiB: 64, gpus: 0 } })] }).waiting.get('cpu'))
      .toBe('UNSCHEDULABLE: no worker has 16 vCPU (largest: 2)');
    expect(run({ workers: [w], jobs: [job('mem', { resources: { vcpus: 1, memoryMiB: 99999, gpus: 0 } })] }).waiting.get('mem'))
      .toBe('UNSCHEDULABLE: no worker has 99999 MiB (largest: 8192)');
  });
});

describe('schedule: reservations and backfill', () => {
  // One 8-GPU worker, 6 GPUs busy until NOW+1h; an 8-GPU job waits at the head.
  const busy: RunningAttempt = { jobId: 'r', workerId: 'w1', startedAt: NOW - 1000, timeoutSeconds: 3600, vcpus: 6, memoryMiB: 6144, gpuIndices: [0, 1, 2, 3, 4, 5] };
  const w1 = worker('w1', { allocated: { vcpus: 6, memoryMiB: 6144, gpuIndices: [0, 1, 2, 3, 4, 5] } });
  const big = job('big', { gpus: 8, submittedAt: NOW - 10 });

  it('reserves the worker where the blocked head job fits soonest, with its estimated start', () => {
    const { placements, waiting, reservations } = run({ workers: [w1], jobs: [big], running: [busy] });
    expect(placements).toEqual([]);
    expect(reservations).toEqual([{ jobId: 'big', workerId: 'w1', startAt: NOW - 1000 + 3600_000 }]);
    expect(waiting.get('big')).toBe('RESERVED: waiting for worker w1, estimated start 2026-11-21 12:59Z');
  });

  it('backfills a later job only if its timeout ends before the reservation starts', () => {
    const short = job('short', { gpus: 1, timeoutSeconds: 600 });
    const long = job('long', { gpus: 1, timeoutSeconds: 7200 });
    const endless = job('endless', { gpus: 1 });
    const { placements, waiting } = run({ workers: [w1], jobs: [big, long, endless, short], running: [busy] });
    expect(placements.map((p) => p.jobId)).toEqual(['short']);
    expect(waiting.get('long')).toMatch(/^PRIORITY: worker w1 is reserved for job big from .*; this job would not end before then$/);
    expect(waiting.get('endless')).toMatch(/a job without timeoutSeconds cannot backfill$/);
  });

  it('lets later jobs use unreserved workers freely', () => {
    const w2 = worker('w2', { capacity: { vcpus: 8, memoryMiB: 8192, gpus: gpus(2) } });
    const { placements } = run({ workers: [w1, w2], jobs: [big, job('any', { gpus: 1 })], running: [busy] });
    expect(placements).toEqual([{ jobId: 'any', workerId: 'w2', gpuDevices: [0] }]);
  });

  it('cannot reserve behind jobs that have no timeout, and says what it needs instead', () => {
    const { reservations, waiting } = run({ workers: [w1], jobs: [big], running: [{ ...busy, timeoutSeconds: null }] });
    expect(reservations).toEqual([]);
    expect(waiting.get('big')).toBe('RESOURCE: needs 8 GPU, 1 vCPU, 1024 MiB; largest free block is 2 on worker w1');
  });

  it('in strict FIFO nothing passes a blocked job', () => {
    const { placements, waiting } = run({
      workers: [w1], jobs: [big, job('short', { gpus: 1, timeoutSeconds: 60 })], running: [busy], policy: { mode: 'strict-fifo' },
    });
    expect(placements).toEqual([]);
    expect(waiting.get('short')).toBe('PRIORITY: 1 jobs ahead in queue q');
  });
});

describe('schedule: fair share', () => {
  it('interleaves projects by decayed usage over weight', () => {
    const w = worker('w', { capacity: { vcpus: 64, memoryMiB: 262144, gpus: gpus(4) } });
    const jobs = [
      ...[1, 2, 3, 4].map((i) => job(`heavy-${i}`, { gpus: 1, project: 'heavy', fairShare: true, submittedAt: NOW + i, timeoutSeconds: 3600 })),
      ...[1, 2, 3, 4].map((i) => job(`light-${i}`, { gpus: 1, project: 'light', fairShare: true, submittedAt: NOW + 10 + i, timeoutSeconds: 3600 })),
    ];
    const usage = new Map([['heavy', 2.5 * 3600], ['light', 0]]);
    const { placements } = run({ workers: [w], jobs, policy: { fairShare: { usage } } });
    expect(placements.map((p) => p.jobId).sort()).toEqual(['heavy-1', 'light-1', 'light-2', 'light-3'].sort());
  });

  it('gives a heavier weight a larger share', () => {
    const jobs = ['a', 'b'].flatMap((p) => [1, 2, 3].map((i) => job(`${p}-${i}`, { project: p, fairShare: true, gpus: 1, timeoutSeconds: 100, submittedAt: NOW + i })));
    const order = orderJobs(jobs, { usage: new Map(), weights: new Map([['a', 2]]) }).map((j) => j.id);
    expect(order.slice(0, 3)).toEqual(['a-1', 'b-1', 'a-2']);
  });
});

describe('chooseGpus', () => {
  const slots = (indices: number[], group?: (i: number) => number): GpuSlot[] => indices.map((index) => ({ index, model: 'A100', nvlinkGroup: group?.(index) }));
  it('takes the shortest run that fits, keeping longer runs whole', () => {
    expect(chooseGpus(slots([0, 2, 3, 5, 6, 7]), 2)).toEqual([2, 3]);
    expect(chooseGpus(slots([0, 1, 2, 3, 6, 7]), 2)).toEqual([6, 7]);
    expect(chooseGpus(slots([0, 2, 3, 5, 6, 7]), 1)).toEqual([0]);
  });
  it('falls back to the lowest free devices', () => {
    expect(chooseGpus(slots([0, 2, 4]), 2)).toEqual([0, 2]);
    expect(chooseGpus(slots([1, 2]), 0)).toEqual([]);
  });
  it('keeps a job inside one NVLink group when the worker reports them', () => {
    expect(chooseGpus(slots([1, 2, 3, 4, 5, 6, 7], (i) => (i < 4 ? 0 : 1)), 3)).toEqual([1, 2, 3]);
    expect(chooseGpus(slots([0, 3, 4, 5, 6], (i) => (i < 4 ? 0 : 1)), 2)).toEqual([0, 3]);
  });
});

describe('schedule (properties)', () => {
  const workerArb = fc.record({
    vcpus: fc.integer({ min: 1, max: 64 }), memoryMiB: fc.integer({ min: 1, max: 65536 }),
    gpus: fc.integer({ min: 0, max: 8 }), used: fc.integer({ min: 0, max: 8 }),
    model: fc.constantFrom('A100', 'T4'), pool: fc.constantFrom('a', 'b'), schedulable: fc.boolean(),
  });
  const jobArb = fc.record({
    vcpus: fc.integer({ min: 1, max: 16000 }).map((m) => m / 1000), memoryMiB: fc.integer({ min: 1, max: 32768 }),
    gpus: fc.integer({ min: 0, max: 9 }), model: fc.constantFrom(undefined, 'A100', 'T4|A100'),
    priority: fc.integer({ min: 0, max: 3 }), queuePriority: fc.integer({ min: 0, max: 3 }),
    pools: fc.constantFrom([], ['a'], ['b']), timeout: fc.constantFrom(null, 60, 3600),
  });
  type WorkerSpec = typeof workerArb extends fc.Arbitrary<infer T> ? T : never;
  type JobSpec = typeof jobArb extends fc.Arbitrary<infer T> ? T : never;
  const build = (ws: WorkerSpec[], js: JobSpec[], mode: 'backfill' | 'strict-fifo') => {
    const running: RunningAttempt[] = [];
    const workers: WorkerNode[] = ws.map((w, i) => {
      const used = Array.from({ length: Math.min(w.used, w.gpus) }, (_, g) => g);
      if (used.length) running.push({ jobId: `r${i}`, workerId: `w${i}`, startedAt: NOW - 1000, timeoutSeconds: 600, vcpus: 0, memoryMiB: 0, gpuIndices: used });
      return { id: `w${i}`, pool: w.pool, schedulable: w.schedulable, capacity: { vcpus: w.vcpus, memoryMiB: w.memoryMiB, gpus: gpus(w.gpus, w.model) }, allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: used } };
    });
    const jobs: RunnableJob[] = js.map((j, i) => ({
      id: `j${i}`, queue: `q${j.queuePriority}`, queuePriority: j.queuePriority, priority: j.priority, submittedAt: NOW + i, pools: j.pools,
      timeoutSeconds: j.timeout, resources: { vcpus: j.vcpus, memoryMiB: j.memoryMiB, gpus: j.gpus, gpuModel: j.model ? parseGpuModel(j.model) : undefined },
    }));
    return { workers, jobs, running, result: schedule({ now: NOW, workers, jobs, running, policy: { mode } }) };
  };

  it('never over-commits a worker, never gives a GPU twice, and explains every waiting job', () => {
    fc.assert(fc.property(fc.array(workerArb, { maxLength: 6 }), fc.array(jobArb, { maxLength: 40 }), fc.constantFrom('backfill' as const, 'strict-fifo' as const), (ws, js, mode) => {
      const { workers, jobs, result } = build(ws, js, mode);
      for (const w of workers) {
        const mine = result.placements.filter((p) => p.workerId === w.id);
        const mineJobs = mine.map((p) => jobs.find((j) => j.id === p.jobId)!);
        if (mine.length > 0) expect(w.schedulable).toBe(true);
        expect(mineJobs.reduce((s, j) => s + Math.round(j.resources.vcpus * 1000), 0)).toBeLessThanOrEqual(w.capacity.vcpus * 1000);
        expect(mineJobs.reduce((s, j) => s + j.resources.memoryMiB, 0)).toBeLessThanOrEqual(w.capacity.memoryMiB);
        const devices = [...w.allocated.gpuIndices, ...mine.flatMap((p) => p.gpuDevices)];
        expect(new Set(devices).size).toBe(devices.length);
        for (const p of mine) {
          const j = jobs.find((x) => x.id === p.jobId)!;
          expect(p.gpuDevices).toHaveLength(j.resources.gpus);
          for (const d of p.gpuDevices) expect(w.capacity.gpus.some((g) => g.index === d && (!j.resources.gpuModel || j.resources.gpuModel.includes(g.model.toLowerCase())))).toBe(true);
          if (j.pools.length) expect(j.pools).toContain(w.pool);
        }
      }
      for (const j of jobs) {
        const placed = result.placements.some((p) => p.jobId === j.id);
        expect(placed !== result.waiting.has(j.id)).toBe(true);
        if (!placed) expect(result.waiting.get(j.id)).toMatch(/^(RESOURCE|UNSCHEDULABLE|PRIORITY|RESERVED): \S/);
      }
    }), { numRuns: 300 });
  });

  it('is work-conserving: a waiting job fits no worker left free, unless that worker is reserved and it cannot backfill', () => {
    fc.assert(fc.property(fc.array(workerArb, { maxLength: 6 }), fc.array(jobArb, { maxLength: 40 }), (ws, js) => {
      const { workers, jobs, result } = build(ws, js, 'backfill');
      const states = new Map(workers.map((w) => [w.id, new WorkerState(w)]));
      for (const p of result.placements) states.get(p.workerId)!.take(jobs.find((j) => j.id === p.jobId)!, p.gpuDevices);
      const reservedAt = new Map(result.reservations.map((r) => [r.workerId, r.startAt]));
      for (const j of jobs.filter((x) => result.waiting.has(x.id))) {
        for (const s of states.values()) {
          if (!s.node.schedulable || !s.admits(j) || !s.fitsNow(j)) continue;
          const startAt = reservedAt.get(s.node.id);
          expect(startAt).toBeDefined();
          expect(j.timeoutSeconds === null || NOW + j.timeoutSeconds! * 1000 > startAt!).toBe(true);
        }
      }
    }), { numRuns: 300 });
  });

  it('never lets a backfilled job end after the reservation it used', () => {
    fc.assert(fc.property(fc.array(workerArb, { minLength: 1, maxLength: 4 }), fc.array(jobArb, { maxLength: 30 }), (ws, js) => {
      const { jobs, result } = build(ws, js, 'backfill');
      const order = orderJobs(jobs).map((j) => j.id);
      for (const r of result.reservations) {
        for (const p of result.placements.filter((x) => x.workerId === r.workerId)) {
          if (order.indexOf(p.jobId) < order.indexOf(r.jobId)) continue; // placed before the reservation existed
          const j = jobs.find((x) => x.id === p.jobId)!;
          expect(j.timeoutSeconds).not.toBeNull();
          expect(NOW + j.timeoutSeconds! * 1000).toBeLessThanOrEqual(r.startAt);
        }
      }
    }), { numRuns: 300 });
  });

  it('starts the top job once the capacity it waits for is freed: it never waits forever', () => {
    // Replays passes in virtual time: running jobs end at their timeouts, new low jobs keep arriving.
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 20 }), (need, smalls) => {
      const w = worker('w', { capacity: { vcpus: 64, memoryMiB: 262144, gpus: gpus(8) } });
      let now = NOW;
      let running: (RunningAttempt & { end: number })[] = [{ jobId: 'first', workerId: 'w', startedAt: now, timeoutSeconds: 300, vcpus: 1, memoryMiB: 1, gpuIndices: [0, 1, 2, 3, 4, 5, 6, 7], end: now + 300_000 }];
      const top = job('top', { gpus: need, submittedAt: NOW - 1, timeoutSeconds: 100 });
      let pending = smalls.map((g, i) => job(`small-${i}`, { gpus: g, timeoutSeconds: 200 + 50 * i, submittedAt: NOW + i }));
      for (let pass = 0; pass < 50; pass++) {
        running = running.filter((r) => r.end > now);
        const held = running.flatMap((r) => [...r.gpuIndices]);
        const node = { ...w, allocated: { vcpus: running.length, memoryMiB: running.length, gpuIndices: held } };
        const { placements } = schedule({ now, workers: [node], jobs: [top, ...pending], running });
        if (placements.some((p) => p.jobId === 'top')) return;
        for (const p of placements) {
          const j = pending.find((x) => x.id === p.jobId)!;
          running.push({ jobId: j.id, workerId: 'w', startedAt: now, timeoutSeconds: j.timeoutSeconds!, vcpus: 1, memoryMiB: 1, gpuIndices: p.gpuDevices, end: now + j.timeoutSeconds! * 1000 });
        }
        pending = pending.filter((j) => !placements.some((p) => p.jobId === j.id));
        now = Math.min(...running.map((r) => r.end));
      }
      throw new Error('the top job never started');
    }), { numRuns: 200 });
  });
});

describe('priorityReason', () => {
  it('counts exactly up to 99, then rounds to two significant digits', () => {
    expect(priorityReason(12, 'train')).toBe('PRIORITY: 12 jobs ahead in queue train');
    expect(priorityReason(99, 'q')).toBe('PRIORITY: 99 jobs ahead in queue q');
    expect(priorityReason(1234, 'q')).toBe('PRIORITY: about 1,200 jobs ahead in queue q');
    expect(priorityReason(87_561, 'q')).toBe('PRIORITY: about 88,000 jobs ahead in queue q');
  });
});

describe('schedule: strict FIFO and jobs that can never run', () => {
  it('does not let a job no worker could ever fit block the queue', () => {
    const { placements, waiting } = run({
      workers: [worker('w')], jobs: [job('huge', { gpus: 16 }), job('small', { gpus: 1, submittedAt: NOW + 1 })], policy: { mode: 'strict-fifo' },
    });
    expect(placements.map((p) => p.jobId)).toEqual(['small']);
    expect(waiting.get('huge')).toMatch(/^UNSCHEDULABLE/);
  });
});
