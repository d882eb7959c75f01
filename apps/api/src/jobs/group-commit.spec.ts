import { GroupCommit } from './group-commit.js';

/** A writer whose calls the test settles by hand. */
function manualWriter() {
  const calls: { items: number[]; settle: (fail?: Set<number>) => void }[] = [];
  const write = (items: number[]) => new Promise<string[]>((resolve, reject) => {
    calls.push({
      items,
      settle: (fail) => (items.some((i) => fail?.has(i)) ? reject(new Error(`bad ${items.join(',')}`)) : resolve(items.map((i) => `id-${i}`))),
    });
  });
  return { calls, write };
}

const flushTurns = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('writes items handed in during one turn together, and settles each only after its write', async () => {
    const { calls, write } = manualWriter();
    const group = new GroupCommit(write, { maxBatch: 100, maxInFlight: 1, windowMs: 0 });
    const settled: string[] = [];
    const replies = [1, 2, 3].map((i) => group.submit(i).then((r) => settled.push(r)));
    await flushTurns();
    expect(calls.map((c) => c.items)).toEqual([[1, 2, 3]]);
    expect(settled).toEqual([]);
    calls[0].settle();
    await Promise.all(replies);
    expect(settled).toEqual(['id-1', 'id-2', 'id-3']);
  });

  it('gathers what arrives while a write is in flight into the next write', async () => {
    const { calls, write } = manualWriter();
    const group = new GroupCommit(write, { maxBatch: 100, maxInFlight: 1, windowMs: 0 });
    const first = group.submit(1);
    await flushTurns();
    const later = [2, 3, 4].map((i) => group.submit(i));
    await flushTurns();
    expect(calls.map((c) => c.items)).toEqual([[1]]);
    calls[0].settle();
    await first;
    await flushTurns();
    expect(calls.map((c) => c.items)).toEqual([[1], [2, 3, 4]]);
    calls[1].settle();
    expect(await Promise.all(later)).toEqual(['id-2', 'id-3', 'id-4']);
  });

  it('caps a write at maxBatch items', async () => {
    const { calls, write } = manualWriter();
    const group = new GroupCommit(write, { maxBatch: 2, maxInFlight: 3, windowMs: 0 });
    const all = [1, 2, 3, 4, 5].map((i) => group.submit(i));
    for (let turn = 0; turn < 4; turn++) await flushTurns();
    expect(calls.map((c) => c.items)).toEqual([[1, 2], [3, 4], [5]]);
    calls.forEach((c) => c.settle());
    expect(await Promise.all(all)).toHaveLength(5);
  });

  it('writes a failed batch again item by item: the bad item fails alone, the others succeed once', async () => {
    const { calls, write } = manualWriter();
    const group = new GroupCommit(write, { maxBatch: 100, maxInFlight: 1, windowMs: 0 });
    const outcomes = [1, 2, 3].map((i) => group.submit(i).then((r) => ({ ok: r }), (e: Error) => ({ failed: e.message })));
    await flushTurns();
    calls[0].settle(new Set([2]));
    await flushTurns();
    expect(calls.slice(1).map((c) => c.items)).toEqual([[1], [2], [3]]);
    calls.slice(1).forEach((c) => c.settle(new Set([2])));
    expect(await Promise.all(outcomes)).toEqual([{ ok: 'id-1' }, { failed: 'bad 2' }, { ok: 'id-3' }]);
  });

  it('waits busyWindowMs for more while items arrive back to back, and writes an item that comes after a pause at once', async () => {
    const { calls, write } = manualWriter();
    const group = new GroupCommit(write, { maxBatch: 100, maxInFlight: 1, windowMs: 0, busyWindowMs: 200 });
    const first = group.submit(1);
    await flushTurns();
    expect(calls.map((c) => c.items)).toEqual([[1]]);
    calls[0].settle();
    await first;
    await new Promise((r) => setTimeout(r, 300)); // a pause longer than the window
    const second = group.submit(2);
    await flushTurns();
    expect(calls.map((c) => c.items)).toEqual([[1], [2]]);
    calls[1].settle();
    await second;
    const burst = [3, 4, 5].map((i) => group.submit(i)); // right after 2: the group waits for more
    await flushTurns();
    expect(calls).toHaveLength(2);
    const late = group.submit(6);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls.map((c) => c.items)).toEqual([[1], [2], [3, 4, 5, 6]]);
    calls[2].settle();
    expect(await Promise.all([...burst, late])).toEqual(['id-3', 'id-4', 'id-5', 'id-6']);
  });
});
