import fc from 'fast-check';
import { combineRuns, percentile } from './metrics.js';
import { simulate, unplaceableReason } from './simulate.js';
import type { SimJob, SimNode, SimPolicy, SimResult } from './types.js';

const node = (id: string, gpus = 8, gpuModel = 'X'): SimNode => ({ id, vcpus: 64, memoryMiB: 524288, gpus, gpuModel });
const job = (id: string, atSeconds: number, gpus: number, durationSeconds: number, extra: Partial<SimJob> = {}): SimJob => ({
  id, submitMs: atSeconds * 1000, durationSeconds, gpus, vcpus: Math.max(1, 4 * gpus), memoryMiB: 16384 * Math.max(1, gpus), ...extra,
});
const delays = (r: SimResult) => Object.fromEntries(r.records.map((x) => [x.id, (x.startMs - x.submitMs) / 1000]));

describe('simulate', () => {
  it('runs an 8-GPU job then a 1-GPU job on one 8-GPU node: delays, completion, makespan and utilization by hand', () => {
    for (const policy of ['fifo', 'default'] as SimPolicy[]) {
      const r = simulate([node('n1')], [job('a', 0, 8, 100), job('b', 10, 1, 50)], { policy });
      expect(delays(r)).toEqual({ a: 0, b: 90 });
      expect(r.metrics).toMatchObject({
        jobs: 2,
        unplaceableJobs: 0,
        avgQueueingDelaySeconds: 45,
        p95QueueingDelaySeconds: 90,
        avgJobCompletionSeconds: (100 + 140) / 2,
        makespanSeconds: 150,
        busyGpuSeconds: 850,
        capacityGpuSeconds: 1200,
      });
      expect(r.metrics.gpuUtilization).toBeCloseTo(850 / 1200, 12);
      // Event times 0, 10, 100 (b waiting at each); 150 has nobody waiting.
      expect(r.metrics.scheduleCalls).toBe(3);
    }
  });

  // a holds half the node; b needs all of it; c ends before a does, d does not.
  const contended = [job('a', 0, 4, 100), job('b', 1, 8, 100), job('c', 2, 2, 50), job('d', 3, 2, 200)];

  it('strict FIFO: nothing passes the blocked 8-GPU job', () => {
    const r = simulate([node('n1')], contended, { policy: 'fifo' });
    expect(delays(r)).toEqual({ a: 0, b: 99, c: 198, d: 197 });
    expect(r.metrics.makespanSeconds).toBe(400);
    expect(r.metrics.avgQueueingDelaySeconds).toBe((99 + 198 + 197) / 4);
  });

  it('backfill: the 8-GPU job reserves the node; only the job that ends before the reservation passes it', () => {
    const r = simulate([node('n1')], contended, { policy: 'default' });
    expect(delays(r)).toEqual({ a: 0, b: 99, c: 0, d: 197 });
    expect(r.metrics.makespanSeconds).toBe(400);
    expect(r.metrics.avgQueueingDelaySeconds).toBe((99 + 197) / 4);
    expect(r.metrics.avgJobCompletionSeconds).toBe((100 + 199 + 50 + 397) / 4);
  });

  it('without timeouts the core cannot reserve, so backfill lets every fitting job pass', () => {
    const r = simulate([node('n1')], contended.map((j) => ({ ...j, timeoutSeconds: null })), { policy: 'default' });
    // c and d start at once; b waits for a (100) and d (203).
    expect(delays(r)).toEqual({ a: 0, b: 202, c: 0, d: 0 });
    expect(r.metrics.makespanSeconds).toBe(303);
  });

  it('best fit keeps a whole node free for a later 8-GPU job', () => {
    const r = simulate([node('n1'), node('n2')], [job('a', 0, 4, 100), job('b', 1, 1, 100), job('c', 2, 8, 100)], { policy: 'fifo' });
    expect(delays(r)).toEqual({ a: 0, b: 0, c: 0 });
    expect(r.metrics.makespanSeconds).toBe(102);
    expect(r.metrics.gpuUtilization).toBeCloseTo((400 + 100 + 800) / (16 * 102), 12);
  });

  it('honours GPU-model constraints (case-insensitive, as parseGpuModel)', () => {
    const nodes = [node('t4', 1, 'T4'), node('v100', 1, 'V100M32')];
    const jobs = [job('x', 0, 1, 100, { gpuModel: ['V100M32'] }), job('y', 1, 1, 10, { gpuModel: ['v100m32'] }), job('z', 1, 1, 10)];
    const r = simulate(nodes, jobs, { policy: 'default' });
    expect(delays(r)).toEqual({ x: 0, y: 99, z: 0 });
  });

  it('reports jobs no single node can run and does not schedule them', () => {
    const nodes = [node('n1', 8, 'T4')];
    const jobs = [
      job('ok', 0, 8, 10),
      job('big', 0, 16, 10),
      job('model', 0, 1, 10, { gpuModel: ['V100'] }),
      job('cpu', 0, 1, 10, { vcpus: 65 }),
      job('mem', 0, 0, 10, { memoryMiB: 524289 }),
    ];
    const r = simulate(nodes, jobs, { policy: 'fifo' });
    expect(r.metrics.jobs).toBe(1);
    expect(r.metrics.unplaceableJobs).toBe(4);
    expect(Object.fromEntries(r.unplaceable.map((u) => [u.id, u.reason]))).toEqual({
      big: 'gpus', model: 'gpus', cpu: 'vcpus-or-memory', mem: 'vcpus-or-memory',
    });
    expect(unplaceableReason(job('two', 0, 2, 1), [node('a', 1), node('b', 1)])).toBe('gpus');
  });

  it('runs CPU-only jobs on vCPUs and memory alone', () => {
    const r = simulate([node('n1', 0)], [job('a', 0, 0, 10, { vcpus: 64 }), job('b', 0, 0, 10, { vcpus: 1 })], { policy: 'default' });
    expect(delays(r)).toEqual({ a: 0, b: 10 });
    expect(r.metrics.gpuUtilization).toBe(0);
  });

  it('sums the clock around schedule() calls only', () => {
    let t = 0;
    const r = simulate([node('n1')], contended, { policy: 'default', clock: () => t++, wallClock: () => 0 });
    expect(r.metrics.scheduleCpuMs).toBe(r.metrics.scheduleCalls);
    expect(r.metrics.maxScheduleCallMs).toBe(1);
    expect(r.metrics.scheduleWallMs).toBe(0);
  });

  it('replays random traces without over-commit, every job once, never before its submit', () => {
    const arbJob = fc.record({ at: fc.integer({ min: 0, max: 50 }), gpus: fc.integer({ min: 0, max: 8 }), d: fc.integer({ min: 1, max: 40 }), v: fc.boolean() });
    fc.assert(
      fc.property(fc.array(arbJob, { maxLength: 40 }), fc.constantFrom<SimPolicy>('fifo', 'default'), (specs, policy) => {
        const nodes = [node('a', 8, 'T4'), node('b', 4, 'V100'), node('c', 2, 'T4')];
        const jobs = specs.map((s, i) => job(`j${i}`, s.at, s.gpus, s.d, s.v ? { gpuModel: ['v100'] } : {}));
        const r = simulate(nodes, jobs, { policy }); // throws SimulationError on over-commit
        expect(r.metrics.jobs + r.metrics.unplaceableJobs).toBe(jobs.length);
        expect(new Set(r.records.map((x) => x.id)).size).toBe(r.records.length);
        for (const x of r.records) {
          expect(x.startMs).toBeGreaterThanOrEqual(x.submitMs);
          expect(x.finishMs - x.startMs).toBe(jobs[Number(x.id.slice(1))].durationSeconds * 1000);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('metrics', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 95)).toBe(95);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 95)).toBe(0);
    expect(percentile([1, 2], 95)).toBe(2);
  });

  it('combines runs: delays over all jobs, utilization as summed busy over summed capacity', () => {
    const a = simulate([node('n1')], [job('a', 0, 8, 100), job('b', 10, 1, 50)], { policy: 'fifo' });
    const b = simulate([node('m1', 4)], [job('c', 1000, 4, 10)], { policy: 'fifo' });
    const t = combineRuns([a, b]);
    expect(t.jobs).toBe(3);
    expect(t.avgQueueingDelaySeconds).toBe(30);
    expect(t.gpuUtilization).toBeCloseTo((850 + 40) / (1200 + 40), 12);
    expect(t.makespanSeconds).toBe(1010);
    expect(t.scheduleCalls).toBe(a.metrics.scheduleCalls + b.metrics.scheduleCalls);
  });
});

describe('simulate: multi-node jobs on whole nodes', () => {
  const node = (id: string) => ({ id, vcpus: 64, memoryMiB: 524288, gpus: 8, gpuModel: 'V100' });
  const wide = { id: 'wide', submitMs: 0, durationSeconds: 100, gpus: 16, vcpus: 64, memoryMiB: 262144 };

  it('reports a job wider than any node unplaceable without gangs, and runs it on whole nodes with them', () => {
    expect(simulate([node('n1'), node('n2')], [wide], { policy: 'fifo' }).unplaceable).toEqual([{ id: 'wide', reason: 'gpus' }]);
    const result = simulate([node('n1'), node('n2')], [wide], { policy: 'fifo', gangs: true });
    expect(result.unplaceable).toEqual([]);
    expect(result.metrics.gangJobs).toBe(1);
    expect(result.records).toEqual([{ id: 'wide', nodeId: expect.any(String), gpus: 16, submitMs: 0, startMs: 0, finishMs: 100_000 }]);
  });

  it('starts the gang only when enough whole nodes are free, and lets backfill run short jobs before it', () => {
    const jobs = [
      { id: 'busy', submitMs: 0, durationSeconds: 50, gpus: 8, vcpus: 32, memoryMiB: 131072 },
      { ...wide, submitMs: 1000 },
      { id: 'short', submitMs: 2000, durationSeconds: 10, gpus: 4, vcpus: 16, memoryMiB: 65536 },
      { id: 'long', submitMs: 2000, durationSeconds: 500, gpus: 4, vcpus: 16, memoryMiB: 65536 },
    ];
    for (const policy of ['fifo', 'default'] as const) {
      const { records } = simulate([node('n1'), node('n2')], jobs, { policy, gangs: true });
      const start = (id: string) => records.find((r) => r.id === id)!.startMs;
      expect(start('wide')).toBe(50_000);
      expect(start('long')).toBeGreaterThanOrEqual(150_000);
      // Strict FIFO holds short behind the gang; backfill runs it in the gap, since it ends before the gang starts.
      expect(start('short')).toBe(policy === 'fifo' ? 150_000 : 2000);
    }
  });

  it('leaves a job wider than the whole cluster unplaceable', () => {
    expect(simulate([node('n1')], [wide], { policy: 'default', gangs: true }).unplaceable).toEqual([{ id: 'wide', reason: 'gpus' }]);
  });
});
