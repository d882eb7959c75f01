import { ClusterState } from '../state/cluster-state.js';
import { heartbeatWriteDue, parseDescriptor, WorkerRegistry } from './worker-registry.js';

const valid = {
  id: 'w1', pool: 'default', hostname: 'h', vcpus: 8, memoryMiB: 1024, state: 'ACTIVE', heartbeatAt: 1, startedAt: 1,
  labels: { zone: 'a' }, gpus: [{ index: 0, uuid: null, model: 'A100', memoryMiB: 1 }, { index: 1, uuid: null, model: 'A100', memoryMiB: 1 }],
};

describe('parseDescriptor: nonsense capacity never joins the pool', () => {
  it('accepts a sound descriptor', () => {
    expect(parseDescriptor(JSON.stringify(valid))).toEqual(valid);
  });

  it('keeps the attempts a worker lists, and drops a malformed list without refusing the worker', () => {
    expect(parseDescriptor(JSON.stringify({ ...valid, attempts: ['j#1'] }))?.attempts).toEqual(['j#1']);
    expect(parseDescriptor(JSON.stringify({ ...valid, attempts: [1] }))).toEqual({ ...valid, attempts: undefined });
  });

  it.each([
    ['not JSON', '{'],
    ['zero vCPUs', JSON.stringify({ ...valid, vcpus: 0 })],
    ['negative memory', JSON.stringify({ ...valid, memoryMiB: -1 })],
    ['fractional memory', JSON.stringify({ ...valid, memoryMiB: 1.5 })],
    ['duplicate GPU indices', JSON.stringify({ ...valid, gpus: [valid.gpus[0], valid.gpus[0]] })],
    ['a negative GPU index', JSON.stringify({ ...valid, gpus: [{ ...valid.gpus[0], index: -1 }] })],
    ['a GPU without a model', JSON.stringify({ ...valid, gpus: [{ ...valid.gpus[0], model: '' }] })],
    ['an invalid label', JSON.stringify({ ...valid, labels: { 'bad key': 'x' } })],
    ['an unknown state', JSON.stringify({ ...valid, state: 'PAUSED' })],
  ])('refuses %s', (_case, json) => {
    expect(parseDescriptor(json)).toBeNull();
  });
});

describe('heartbeatWriteDue: the rows of workers that joined together are written spread over the interval', () => {
  const INTERVAL = 10_000;
  const STEP = 200; // a pass every 200 ms

  it('writes each worker once per interval, never more than an interval and a pass apart', () => {
    let writtenAt = 0;
    const writes: number[] = [];
    for (let now = STEP; now <= 60_000; now += STEP) {
      if (heartbeatWriteDue('worker-17', writtenAt, now, INTERVAL)) {
        writes.push(now);
        writtenAt = now;
      }
    }
    expect(writes.length).toBeGreaterThanOrEqual(5);
    expect(writes.length).toBeLessThanOrEqual(6);
    const gaps = writes.slice(1).map((t, i) => t - writes[i]);
    expect(gaps.every((g) => g === INTERVAL)).toBe(true);
    expect(writes[0]).toBeLessThanOrEqual(INTERVAL);
  });

  it('spreads a thousand workers written at the same moment over the passes of the next interval', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `bench-w${i}`);
    const writtenAt = new Map(ids.map((id) => [id, 0]));
    const perPass: number[] = [];
    for (let now = STEP; now <= 30_000; now += STEP) {
      let n = 0;
      for (const id of ids) {
        if (!heartbeatWriteDue(id, writtenAt.get(id)!, now, INTERVAL)) continue;
        writtenAt.set(id, now);
        n++;
      }
      perPass.push(n);
    }
    // Every worker is written in each interval, and no pass carries more than a small share of them.
    expect(perPass.slice(50, 100).reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.max(...perPass)).toBeLessThan(100);
  });

  it('writes at once a worker never written by this leader', () => {
    expect(heartbeatWriteDue('w', 0, 1_764_000_000_000, INTERVAL)).toBe(true);
  });
});

describe('WorkerRegistry.nodes: the workers a pass reads, rebuilt only where something changed', () => {
  const silent = { info: () => undefined, warn: () => undefined } as never;
  const db = { query: async () => [] } as never; // the workers table's writes: not what is tested here
  const descriptor = (id: string, extra: object = {}) => ({ ...valid, id, ...extra }) as never;
  const hold = { jobId: 'j', project: 'p', vcpus: 1.5, memoryMiB: 512, gpuDevices: [1], startedAt: 1, timeoutSeconds: null };

  async function registry() {
    const state = new ClusterState();
    const r = new WorkerRegistry(db, { srem: async () => 0 } as never, state, silent);
    await r.apply({ descriptors: [descriptor('w1'), descriptor('w2')], drains: new Set() }, new Set(), 1000);
    return { r, state };
  }

  it('hands out the same list while nothing changed, and new allocations once an attempt is held or freed', async () => {
    const { r, state } = await registry();
    const first = r.nodes();
    expect(first.map((n) => [n.id, n.schedulable, n.allocated])).toEqual([
      ['w1', true, { vcpus: 0, memoryMiB: 0, gpuIndices: [] }], ['w2', true, { vcpus: 0, memoryMiB: 0, gpuIndices: [] }],
    ]);
    expect(r.nodes()).toBe(first);

    state.hold('w1', 'j#1', hold);
    const held = r.nodes();
    expect(held).not.toBe(first);
    expect(held[0].allocated).toEqual({ vcpus: 1.5, memoryMiB: 512, gpuIndices: [1] });
    expect(held[1]).toBe(first[1]); // w2 untouched
    expect(state.running().map((a) => a.jobId)).toEqual(['j']);

    expect(state.release('w1', 'j#1')).toBe(true);
    expect(r.nodes()[0].allocated).toEqual({ vcpus: 0, memoryMiB: 0, gpuIndices: [] });
    expect(state.running()).toEqual([]);
  });

  it('rebuilds a worker whose heartbeat changed, and one asked to drain; drops one that left', async () => {
    const { r } = await registry();
    const first = r.nodes();
    await r.apply({ descriptors: [descriptor('w1', { vcpus: 16 }), descriptor('w2')], drains: new Set(['w2']) }, new Set(), 2000);
    const second = r.nodes();
    expect(second.map((n) => [n.id, n.capacity.vcpus, n.schedulable])).toEqual([['w1', 16, true], ['w2', 8, false]]);
    expect(first[0].capacity.vcpus).toBe(8); // what an earlier pass read is left as it was
    await r.apply({ descriptors: [descriptor('w1', { vcpus: 16 })], drains: new Set() }, new Set(), 3000);
    expect(r.nodes().map((n) => n.id)).toEqual(['w1']);
  });
});
