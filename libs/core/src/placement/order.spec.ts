import { orderJobs, PassOrder } from './order.js';
import type { RunnableJob } from './types.js';

const NOW = Date.parse('2026-12-02T12:00:00Z');

function job(id: string, queue: string, queuePriority: number, over: Partial<RunnableJob> = {}): RunnableJob {
  return { id, queue, queuePriority, priority: 0, submittedAt: NOW, pools: [], resources: { vcpus: 1, memoryMiB: 512, gpus: 0 }, ...over };
}

const ids = (order: { jobs: readonly RunnableJob[] }) => order.jobs.map((j) => j.id);

describe('PassOrder: the kept order', () => {
  // Two FIFO queues of one priority (merged by their jobs) and one of its own.
  const first = [
    job('a1', 'a', 1, { submittedAt: NOW + 1 }), job('b1', 'b', 1, { submittedAt: NOW + 2 }), job('a2', 'a', 1, { submittedAt: NOW + 3 }),
    job('h1', 'h', 5, { submittedAt: NOW + 4 }), job('h2', 'h', 5, { submittedAt: NOW + 5 }),
  ];

  it('is edited in place when jobs come to and leave FIFO queues, and says where', () => {
    const kept = new PassOrder();
    const before = kept.order(first, undefined, () => 0);
    expect(kept.edit).toBeUndefined();
    expect(ids(before)).toEqual(['h1', 'h2', 'a1', 'b1', 'a2']);

    // h1 leaves; an urgent job goes ahead in `a`, one behind in `b`, one at the end of `h`.
    const next = [first[0], first[1], first[2], first[4], job('a0', 'a', 1, { priority: 2 }), job('b2', 'b', 1, { submittedAt: NOW + 9 }), job('h3', 'h', 5, { submittedAt: NOW + 9 })];
    const after = kept.order(next, undefined, () => 0);
    expect(ids(after)).toEqual(orderJobs(next).map((j) => j.id));
    expect(ids(after)).toEqual(['h2', 'h3', 'a0', 'a1', 'b1', 'a2', 'b2']);
    expect(kept.edit?.from).toBe(before);
    expect([...kept.edit!.removed]).toEqual([0]);
    expect([...kept.edit!.added]).toEqual([1, 2, 6]);
    // Ahead of which job of the last order each went in: h1 h2 a1 b1 a2 were 0..4.
    expect([...kept.edit!.addedAt]).toEqual([2, 2, 5]);
    expect(Array.from(after.queues, (q) => after.queueNames[q])).toEqual(['h', 'h', 'a', 'a', 'b', 'a', 'b']);
  });

  it('is built again for a fair-share queue, jobs given in another order, or two jobs of one id', () => {
    const fair = [...first, job('f1', 'f', 0, { fairShare: true, project: 'x' })];
    const cases: RunnableJob[][] = [
      [...fair, job('f2', 'f', 0, { fairShare: true, project: 'y' })],
      [...first].reverse(),
      [...first, job('a1', 'a', 1, { submittedAt: NOW + 1 })],
    ];
    for (const next of cases) {
      const kept = new PassOrder();
      kept.order(next === cases[0] ? fair : first, undefined, () => 0);
      const after = kept.order(next, undefined, () => 0);
      expect(kept.edit).toBeUndefined();
      expect(ids(after)).toEqual(orderJobs(next).map((j) => j.id));
    }
  });
});
