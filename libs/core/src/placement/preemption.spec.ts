import fc from 'fast-check';
import { fitsWithout, mayPreempt, planPreemption, type PreemptionCandidate, type PreemptionPolicy } from './preemption.js';
import type { GpuSlot, RunnableJob, WorkerNode } from './types.js';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const POLICY: PreemptionPolicy = { minRuntimeSeconds: 60, maxPreemptionsPerJob: 3 };
const gpus = (n: number): GpuSlot[] => Array.from({ length: n }, (_, index) => ({ index, model: 'A100' }));

function worker(id: string, held: PreemptionCandidate[], over: Partial<WorkerNode> = {}): WorkerNode {
  return {
    id, pool: 'default', schedulable: true, labels: {},
    capacity: { vcpus: 64, memoryMiB: 262144, gpus: gpus(8) },
    allocated: {
      vcpus: held.reduce((s, v) => s + v.vcpus, 0), memoryMiB: held.reduce((s, v) => s + v.memoryMiB, 0),
      gpuIndices: held.flatMap((v) => [...v.gpuIndices]),
    },
    ...over,
  };
}

const urgent = (g: number, over: Partial<RunnableJob> = {}): RunnableJob => ({
  id: 'urgent', queue: 'hi', queuePriority: 10, priority: 0, submittedAt: NOW, pools: [], resources: { vcpus: 1, memoryMiB: 1024, gpus: g }, ...over,
});

function victim(jobId: string, workerId: string, gpuIndices: number[], over: Partial<PreemptionCandidate> = {}): PreemptionCandidate {
  return {
    jobId, workerId, queuePriority: 1, priority: 0, startedAt: NOW - 3_600_000, vcpus: 1, memoryMiB: 1024, gpuIndices, preemptible: true, preemptions: 0, ...over,
  };
}

describe('planPreemption', () => {
  it('frees just what the job needs: the lowest priority first, then the least work lost', () => {
    const running = [
      victim('old', 'w', [0, 1], { startedAt: NOW - 7_200_000 }),
      victim('young', 'w', [2, 3], { startedAt: NOW - 600_000 }),
      victim('important', 'w', [4, 5], { queuePriority: 5 }),
      victim('also-young', 'w', [6, 7], { startedAt: NOW - 300_000 }),
    ];
    expect(planPreemption(urgent(2), [worker('w', running)], running, NOW, POLICY)).toEqual({ jobId: 'urgent', workerId: 'w', victims: ['also-young'] });
    expect(planPreemption(urgent(4), [worker('w', running)], running, NOW, POLICY)?.victims.sort()).toEqual(['also-young', 'young']);
  });

  it('never takes a job that is not preemptible, too young, preempted too often, or not of lower priority', () => {
    const running = [
      victim('pinned', 'w', [0, 1, 2, 3], { preemptible: false }),
      victim('fresh', 'w', [4, 5], { startedAt: NOW - 30_000 }),
      victim('thrashed', 'w', [6], { preemptions: 3 }),
      victim('peer', 'w', [7], { queuePriority: 10 }),
    ];
    expect(planPreemption(urgent(1), [worker('w', running)], running, NOW, POLICY)).toBeUndefined();
    expect(mayPreempt(urgent(1), victim('v', 'w', [0], { startedAt: NOW - 60_000 }), NOW, POLICY)).toBe(true);
  });

  it('prefers the worker whose victims matter least', () => {
    const onA = [victim('a', 'wa', [0, 1, 2, 3, 4, 5, 6, 7], { queuePriority: 3 })];
    const onB = [victim('b', 'wb', [0, 1, 2, 3, 4, 5, 6, 7], { queuePriority: 1 })];
    const plan = planPreemption(urgent(8), [worker('wa', onA), worker('wb', onB)], [...onA, ...onB], NOW, POLICY);
    expect(plan).toEqual({ jobId: 'urgent', workerId: 'wb', victims: ['b'] });
  });
});

describe('planPreemption (properties)', () => {
  const victimArb = fc.record({
    gpus: fc.integer({ min: 0, max: 4 }), queuePriority: fc.integer({ min: 0, max: 10 }), priority: fc.integer({ min: 0, max: 3 }),
    ranSeconds: fc.integer({ min: 0, max: 7200 }), preemptible: fc.boolean(), preemptions: fc.integer({ min: 0, max: 4 }),
    vcpus: fc.integer({ min: 1, max: 16 }), memoryMiB: fc.integer({ min: 1, max: 65536 }),
  });

  it('never takes a non-preemptible or too young job, and frees no more than the job needs', () => {
    fc.assert(fc.property(
      fc.array(fc.array(victimArb, { maxLength: 5 }), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 32 }),
      (perWorker, need, queuePriority, vcpus) => {
        const running: PreemptionCandidate[] = [];
        const workers = perWorker.map((vs, w) => {
          let next = 0;
          const held: PreemptionCandidate[] = [];
          vs.forEach((v, i) => {
            const n = Math.min(v.gpus, 8 - next);
            held.push(victim(`v${w}-${i}`, `w${w}`, Array.from({ length: n }, (_, k) => next + k), {
              queuePriority: v.queuePriority, priority: v.priority, startedAt: NOW - v.ranSeconds * 1000, preemptible: v.preemptible,
              preemptions: v.preemptions, vcpus: v.vcpus, memoryMiB: v.memoryMiB,
            }));
            next += n;
          });
          running.push(...held);
          return worker(`w${w}`, held, { capacity: { vcpus: Math.max(64, held.reduce((s, v) => s + v.vcpus, 0)), memoryMiB: 262144, gpus: gpus(8) } });
        });
        const job = urgent(need, { queuePriority, resources: { vcpus, memoryMiB: 1024, gpus: need } });
        const plan = planPreemption(job, workers, running, NOW, POLICY);
        if (!plan) return;
        const node = workers.find((w) => w.id === plan.workerId)!;
        const victims = plan.victims.map((id) => running.find((v) => v.jobId === id)!);
        expect(victims.length).toBeGreaterThan(0);
        for (const v of victims) {
          expect(v.workerId).toBe(plan.workerId);
          expect(v.preemptible).toBe(true);
          expect(NOW - v.startedAt).toBeGreaterThanOrEqual(POLICY.minRuntimeSeconds * 1000);
          expect(v.preemptions).toBeLessThan(POLICY.maxPreemptionsPerJob);
          expect(v.queuePriority).toBeLessThan(queuePriority);
        }
        expect(fitsWithout(job, node, victims)).toBe(true);
        // Minimal: giving back any one victim leaves the job without room.
        for (const v of victims) expect(fitsWithout(job, node, victims.filter((x) => x !== v))).toBe(false);
      },
    ), { numRuns: 500 });
  });
});
