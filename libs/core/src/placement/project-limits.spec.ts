import fc from 'fast-check';
import { poolsForJob, NO_POOL } from './pool-preference.js';
import { schedule } from './schedule.js';
import type { ProjectLimits, RunnableJob, WorkerNode } from './types.js';

const NOW = Date.parse('2026-11-21T12:00:00Z');

function worker(id: string, gpus: number, pool = 'default'): WorkerNode {
  return {
    id, pool, schedulable: true, labels: {},
    capacity: { vcpus: 64, memoryMiB: 262144, gpus: Array.from({ length: gpus }, (_, index) => ({ index, model: 'A100' })) },
    allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: [] },
  };
}

function job(id: string, project: string, gpus: number, over: Partial<RunnableJob> = {}): RunnableJob {
  return {
    id, project, queue: 'q', queuePriority: 0, priority: 0, submittedAt: NOW, pools: [],
    resources: { vcpus: 1, memoryMiB: 1024, gpus }, ...over,
  };
}

const limits = (entries: [string, ProjectLimits][]) => new Map(entries);

describe('schedule: project GPU quotas and budgets', () => {
  it('keeps a project at its GPU quota waiting with QUOTA, and lets other projects use the free GPUs', () => {
    const { placements, waiting } = schedule({
      now: NOW, workers: [worker('w', 8)],
      jobs: [job('v1', 'vision', 4), job('v2', 'vision', 4), job('n1', 'nlp', 2, { submittedAt: NOW + 1 })],
      projects: limits([['vision', { gpuQuota: 16, gpusHeld: 12 }]]),
    });
    expect(placements.map((p) => p.jobId).sort()).toEqual(['n1', 'v1']);
    expect(waiting.get('v2')).toBe('QUOTA: project vision holds 16/16 GPUs; this job needs 4');
  });

  it('never reserves for a quota-blocked job, so it holds nothing up', () => {
    const { placements, reservations } = schedule({
      now: NOW, workers: [worker('w', 8)],
      jobs: [job('big', 'vision', 8), job('small', 'nlp', 1, { submittedAt: NOW + 1 })],
      projects: limits([['vision', { gpuQuota: 4, gpusHeld: 0 }]]),
    });
    expect(reservations).toEqual([]);
    expect(placements.map((p) => p.jobId)).toEqual(['small']);
  });

  it('lets CPU-only jobs of a project at its GPU quota run', () => {
    const { placements } = schedule({
      now: NOW, workers: [worker('w', 0)], jobs: [job('cpu', 'vision', 0)],
      projects: limits([['vision', { gpuQuota: 0, gpusHeld: 0 }]]),
    });
    expect(placements.map((p) => p.jobId)).toEqual(['cpu']);
  });

  it('starts none of the jobs of a project that spent its budget, with the BUDGET reason', () => {
    const { placements, waiting } = schedule({
      now: NOW, workers: [worker('w', 8)], jobs: [job('cpu', 'vision', 0), job('other', 'nlp', 0)],
      projects: limits([['vision', { gpuQuota: null, gpusHeld: 0, budgetSpent: { spent: '1002.4', budget: '1000', currency: 'USD', month: '2026-11' } }]]),
    });
    expect(placements.map((p) => p.jobId)).toEqual(['other']);
    expect(waiting.get('cpu')).toBe('BUDGET: project vision spent 1,002.40 of 1,000.00 USD in 2026-11');
  });

  it('never lets a project hold more GPUs than its quota, whatever the jobs (property)', () => {
    const jobArb = fc.record({ project: fc.constantFrom('a', 'b'), gpus: fc.integer({ min: 0, max: 4 }) });
    fc.assert(fc.property(
      fc.array(jobArb, { maxLength: 30 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 }),
      (specs, quota, heldBefore) => {
        const held = Math.min(heldBefore, quota);
        const jobs = specs.map((s, i) => job(`j${i}`, s.project, s.gpus, { submittedAt: NOW + i }));
        const { placements, waiting } = schedule({
          now: NOW, workers: [worker('w1', 8), worker('w2', 8)], jobs, projects: limits([['a', { gpuQuota: quota, gpusHeld: held }]]),
        });
        const placedA = placements.filter((p) => jobs.find((j) => j.id === p.jobId)!.project === 'a');
        expect(held + placedA.reduce((n, p) => n + p.gpuDevices.length, 0)).toBeLessThanOrEqual(quota);
        for (const j of jobs) expect(placements.some((p) => p.jobId === j.id) || waiting.has(j.id)).toBe(true);
      },
    ));
  });
});

describe('schedule: pools in order of preference', () => {
  it('places in the first listed pool that has room, before a better fit in a later one', () => {
    const workers = [worker('w-later', 1, 'later'), worker('w-first', 8, 'first')];
    const { placements } = schedule({ now: NOW, workers, jobs: [job('j', 'p', 1, { pools: ['first', 'later'] })] });
    expect(placements[0].workerId).toBe('w-first');
  });

  it('falls back to the next pool when the first is full', () => {
    const full = { ...worker('w-first', 1, 'first'), allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: [0] } };
    const { placements } = schedule({ now: NOW, workers: [full, worker('w-later', 1, 'later')], jobs: [job('j', 'p', 1, { pools: ['first', 'later'] })] });
    expect(placements[0].workerId).toBe('w-later');
  });
});

describe('poolsForJob', () => {
  const types = new Map([['od', 'ON_DEMAND' as const], ['spot', 'SPOT' as const]]);
  const queue = { pools: ['od', 'spot'], preferSpotForInterruptible: true };

  it('keeps the queue order when the queue does not prefer spot', () => {
    expect(poolsForJob({ ...queue, preferSpotForInterruptible: false }, true, types, [])).toEqual(['od', 'spot']);
    expect(poolsForJob({ pools: [], preferSpotForInterruptible: false }, true, types, ['od', 'spot'])).toEqual([]);
  });

  it('puts SPOT pools first for interruptible jobs and keeps other jobs off them', () => {
    expect(poolsForJob(queue, true, types, [])).toEqual(['spot', 'od']);
    expect(poolsForJob(queue, false, types, [])).toEqual(['od']);
  });

  it('applies to every known pool when the queue allows any, unpriced pools counting as ON_DEMAND', () => {
    expect(poolsForJob({ pools: [], preferSpotForInterruptible: true }, false, types, ['od', 'spot', 'unpriced'])).toEqual(['od', 'unpriced']);
  });

  it('gives a job no pool at all, not any pool, when the queue has only SPOT pools and the job is not interruptible', () => {
    expect(poolsForJob({ pools: ['spot'], preferSpotForInterruptible: true }, false, types, [])).toEqual([NO_POOL]);
  });
});
