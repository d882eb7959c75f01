import fc from 'fast-check';
import { GANG_PORT_RANGE, gangEnvironment, gangPort } from './gang.js';
import { schedule } from './schedule.js';
import type { GpuSlot, RunnableJob, RunningAttempt, WorkerNode } from './types.js';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const gpus = (n: number, model = 'A100'): GpuSlot[] => Array.from({ length: n }, (_, index) => ({ index, model }));

function worker(id: string, over: Partial<WorkerNode> = {}): WorkerNode {
  return {
    id, pool: 'default', schedulable: true, labels: {},
    capacity: { vcpus: 64, memoryMiB: 262144, gpus: gpus(8) },
    allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: [] },
    ...over,
  };
}

/** The nodes of one gang: ids `<id>` (main) and `<id>:node<i>`. */
function gang(id: string, size: number, over: Partial<RunnableJob> & { gpus?: number; topologyKey?: string } = {}): RunnableJob[] {
  const { gpus: g = 8, topologyKey, ...rest } = over;
  return Array.from({ length: size }, (_, index) => ({
    id: index === 0 ? id : `${id}:node${index}`, queue: 'q', queuePriority: 0, priority: 0, submittedAt: NOW, pools: [],
    resources: { vcpus: 8, memoryMiB: 65536, gpus: g }, timeoutSeconds: 3600,
    gang: { id, index, size, ...(topologyKey ? { topologyKey } : {}) }, ...rest,
  }));
}

function job(id: string, over: Partial<RunnableJob> & { gpus?: number } = {}): RunnableJob {
  const { gpus: g = 0, ...rest } = over;
  return { id, queue: 'q', queuePriority: 0, priority: 0, submittedAt: NOW + 1, pools: [], resources: { vcpus: 1, memoryMiB: 1024, gpus: g }, ...rest };
}

const busy = (workerId: string, timeoutSeconds: number | null, gpuIndices = [0, 1, 2, 3, 4, 5, 6, 7]): RunningAttempt =>
  ({ jobId: `busy-${workerId}`, workerId, startedAt: NOW - 60_000, timeoutSeconds, vcpus: 8, memoryMiB: 1024, gpuIndices });

describe('schedule: multi-node (gang) jobs', () => {
  it('places every node at once, one per worker, the main node included', () => {
    const { placements, waiting } = schedule({ now: NOW, workers: [worker('w1'), worker('w2'), worker('w3')], jobs: gang('g', 2) });
    expect(placements.map((p) => p.jobId).sort()).toEqual(['g', 'g:node1']);
    expect(new Set(placements.map((p) => p.workerId)).size).toBe(2);
    expect(placements.every((p) => p.gpuDevices.length === 8)).toBe(true);
    expect(waiting.size).toBe(0);
  });

  it('places nothing while one node does not fit, and says how many nodes are available and when it starts', () => {
    const w2 = worker('w2', { allocated: { vcpus: 8, memoryMiB: 1024, gpuIndices: [0, 1, 2, 3, 4, 5, 6, 7] } });
    const { placements, waiting, reservations } = schedule({
      now: NOW, workers: [worker('w1'), w2], jobs: gang('g', 2), running: [busy('w2', 600)],
    });
    expect(placements).toEqual([]);
    expect(waiting.get('g')).toBe('GANG: 1 of 2 nodes with 8 GPU, 8 vCPU, 65536 MiB available in pool default; estimated start 2026-12-02 10:09Z');
    expect(waiting.get('g:node1')).toBe(waiting.get('g'));
    expect(reservations.map((r) => r.workerId).sort()).toEqual(['w1', 'w2']);
  });

  it('lets a smaller job backfill a worker the gang reserved only if it ends before the gang starts', () => {
    const w2 = worker('w2', { allocated: { vcpus: 8, memoryMiB: 1024, gpuIndices: [0, 1, 2, 3, 4, 5, 6, 7] } });
    const jobs = [...gang('g', 2), job('short', { gpus: 1, timeoutSeconds: 60 }), job('long', { gpus: 1, timeoutSeconds: 7200 })];
    const { placements, waiting } = schedule({ now: NOW, workers: [worker('w1'), w2], jobs, running: [busy('w2', 600)] });
    expect(placements.map((p) => p.jobId)).toEqual(['short']);
    expect(waiting.get('long')).toMatch(/^PRIORITY: worker w\d is reserved for job g/);
  });

  it('is UNSCHEDULABLE when no pool has enough workers, or no worker can hold one node', () => {
    const tooMany = schedule({ now: NOW, workers: [worker('w1'), worker('w2', { pool: 'other' })], jobs: gang('g', 2) });
    expect(tooMany.waiting.get('g')).toBe('UNSCHEDULABLE: the job needs 2 workers of one pool with 8 GPU, 8 vCPU, 65536 MiB each; the most any pool has is 1');
    const tooBig = schedule({ now: NOW, workers: [worker('w1'), worker('w2')], jobs: gang('g', 2, { gpus: 16 }) });
    expect(tooBig.waiting.get('g:node1')).toBe('UNSCHEDULABLE: no worker has 16 GPU (largest: 8)');
  });

  it('waits until every node is runnable', () => {
    const { placements, waiting } = schedule({ now: NOW, workers: [worker('w1'), worker('w2'), worker('w3')], jobs: gang('g', 3).slice(0, 2) });
    expect(placements).toEqual([]);
    expect(waiting.get('g')).toBe('GANG: 2 of 3 nodes are runnable; waiting for the others');
  });

  it('prefers workers that share the topology label', () => {
    const workers = [
      worker('a1', { labels: { rack: 'a' } }), worker('b1', { labels: { rack: 'b' } }), worker('b2', { labels: { rack: 'b' } }),
      worker('a2', { labels: { rack: 'a' } }, ), worker('a3', { labels: { rack: 'a' } }),
    ];
    const { placements } = schedule({ now: NOW, workers, jobs: gang('g', 2, { topologyKey: 'rack' }) });
    expect(placements.map((p) => p.workerId).sort()).toEqual(['b1', 'b2']);
    const wide = schedule({ now: NOW, workers, jobs: gang('g', 3, { topologyKey: 'rack' }) });
    expect(wide.placements.map((p) => p.workerId).sort()).toEqual(['a1', 'a2', 'a3']);
  });

  it('holds the queue behind a gang that does not fit in strict FIFO', () => {
    const w2 = worker('w2', { allocated: { vcpus: 8, memoryMiB: 1024, gpuIndices: [0, 1, 2, 3, 4, 5, 6, 7] } });
    const { placements, waiting } = schedule({
      now: NOW, workers: [worker('w1'), w2], jobs: [...gang('g', 2), job('small', { gpus: 1, timeoutSeconds: 60 })],
      running: [busy('w2', 600)], policy: { mode: 'strict-fifo' },
    });
    expect(placements).toEqual([]);
    expect(waiting.get('small')).toBe('PRIORITY: 1 jobs ahead in queue q');
  });
});

describe('schedule: multi-node jobs (properties)', () => {
  const workerArb = fc.record({
    gpus: fc.integer({ min: 0, max: 8 }), used: fc.integer({ min: 0, max: 8 }), pool: fc.constantFrom('a', 'b'),
    schedulable: fc.boolean(), rack: fc.constantFrom(undefined, 'r1', 'r2'),
  });
  const gangArb = fc.record({
    size: fc.integer({ min: 2, max: 5 }), gpus: fc.integer({ min: 0, max: 8 }), pools: fc.constantFrom([], ['a'], ['b']),
    timeout: fc.constantFrom(null, 60, 3600), priority: fc.integer({ min: 0, max: 3 }), topology: fc.boolean(), missing: fc.boolean(),
  });
  const singleArb = fc.record({ gpus: fc.integer({ min: 0, max: 8 }), timeout: fc.constantFrom(null, 60, 3600), priority: fc.integer({ min: 0, max: 3 }) });

  it('never places part of a gang, never gives a GPU twice, and puts each gang on distinct workers of one pool', () => {
    fc.assert(fc.property(
      fc.array(workerArb, { maxLength: 8 }), fc.array(gangArb, { maxLength: 5 }), fc.array(singleArb, { maxLength: 10 }),
      fc.constantFrom('backfill' as const, 'strict-fifo' as const),
      (ws, gs, ss, mode) => {
        const running: RunningAttempt[] = [];
        const workers = ws.map((w, i): WorkerNode => {
          const used = Array.from({ length: Math.min(w.used, w.gpus) }, (_, g) => g);
          if (used.length) running.push({ jobId: `r${i}`, workerId: `w${i}`, startedAt: NOW - 1000, timeoutSeconds: 600, vcpus: 0, memoryMiB: 0, gpuIndices: used });
          return worker(`w${i}`, { pool: w.pool, schedulable: w.schedulable, labels: w.rack ? { rack: w.rack } : {}, capacity: { vcpus: 64, memoryMiB: 262144, gpus: gpus(w.gpus) }, allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: used } });
        });
        const gangJobs = gs.flatMap((g, i) => {
          const nodes = gang(`g${i}`, g.size, { gpus: g.gpus, pools: g.pools, timeoutSeconds: g.timeout, priority: g.priority, submittedAt: NOW + i, ...(g.topology ? { topologyKey: 'rack' } : {}) });
          return g.missing ? nodes.slice(1) : nodes; // a gang one of whose nodes is not runnable yet
        });
        const singles = ss.map((s, i) => job(`s${i}`, { gpus: s.gpus, timeoutSeconds: s.timeout, priority: s.priority, submittedAt: NOW + i }));
        const jobs = [...gangJobs, ...singles];
        const { placements, waiting } = schedule({ now: NOW, workers, jobs, running, policy: { mode } });

        gs.forEach((g, i) => {
          const nodes = gangJobs.filter((j) => j.gang!.id === `g${i}`);
          const placed = placements.filter((p) => nodes.some((n) => n.id === p.jobId));
          // All or nothing, and never a gang with a node missing.
          expect(placed.length === 0 || (placed.length === g.size && !g.missing)).toBe(true);
          if (placed.length) {
            expect(new Set(placed.map((p) => p.workerId)).size).toBe(g.size);
            expect(new Set(placed.map((p) => workers.find((w) => w.id === p.workerId)!.pool)).size).toBe(1);
          } else {
            for (const n of nodes) expect(waiting.get(n.id)).toMatch(/^(GANG|UNSCHEDULABLE|PRIORITY|RESERVED): \S/);
          }
        });
        for (const w of workers) {
          const devices = [...w.allocated.gpuIndices, ...placements.filter((p) => p.workerId === w.id).flatMap((p) => p.gpuDevices)];
          expect(new Set(devices).size).toBe(devices.length);
          for (const d of devices) expect(d).toBeLessThan(w.capacity.gpus.length);
        }
      },
    ), { numRuns: 400 });
  });
});

describe('gang ports and environment', () => {
  it('gives a stable port of the range and moves past ports in use', () => {
    const port = gangPort('job-1', new Set())!;
    expect(port).toBeGreaterThanOrEqual(GANG_PORT_RANGE.first);
    expect(port).toBeLessThanOrEqual(GANG_PORT_RANGE.last);
    expect(gangPort('job-1', new Set())).toBe(port);
    const next = gangPort('job-1', new Set([port]))!;
    expect(next).not.toBe(port);
    expect(gangPort('x', new Set([1, 2]), { first: 1, last: 2 })).toBeUndefined();
  });

  it('tells each node its rank and the main node the torchrun way', () => {
    expect(gangEnvironment(1, 2, '10.0.0.5', 29500)).toEqual({
      GPUBATCH_NODE_INDEX: '1', GPUBATCH_NUM_NODES: '2', GPUBATCH_MAIN_NODE_ADDR: '10.0.0.5', GPUBATCH_MAIN_NODE_PORT: '29500',
      MASTER_ADDR: '10.0.0.5', MASTER_PORT: '29500', NNODES: '2', WORLD_SIZE: '2', NODE_RANK: '1',
    });
  });
});
