import type { RunnableJob, WorkerNode } from './types.js';
import { WorkerState } from './worker-state.js';

/** A running attempt as preemption sees it: what it holds, how important it is, how long it ran. */
export interface PreemptionCandidate {
  jobId: string;
  workerId: string;
  queuePriority: number;
  priority: number;
  /** Epoch ms the attempt started. */
  startedAt: number;
  vcpus: number;
  memoryMiB: number;
  gpuIndices: readonly number[];
  /** The job (or its definition) said it may be preempted. */
  preemptible: boolean;
  /** How often the job was preempted already. */
  preemptions: number;
}

/** Guards against thrashing. */
export interface PreemptionPolicy {
  /** A job runs at least this long before it may be preempted. */
  minRuntimeSeconds: number;
  /** A job preempted this often is never preempted again. */
  maxPreemptionsPerJob: number;
}

/** The attempts to preempt, all on one worker, so that `jobId` fits there. */
export interface PreemptionPlan {
  jobId: string;
  workerId: string;
  /** Job ids, in the order they were chosen. */
  victims: string[];
}

/** Higher queue priority first, then higher job priority: the order jobs are taken in. */
function outranks(a: { queuePriority: number; priority: number }, b: { queuePriority: number; priority: number }): boolean {
  return a.queuePriority > b.queuePriority || (a.queuePriority === b.queuePriority && a.priority > b.priority);
}

/**
 * Whether `victim` may be preempted for `job` now: it is preemptible, of
 * lower priority, has run its minimum runtime, and has not been preempted
 * too often.
 */
export function mayPreempt(job: RunnableJob, victim: PreemptionCandidate, now: number, policy: PreemptionPolicy): boolean {
  return victim.preemptible && outranks(job, victim) && victim.preemptions < policy.maxPreemptionsPerJob
    && now - victim.startedAt >= policy.minRuntimeSeconds * 1000;
}

/** GPU-seconds a preemption throws away (at least one "GPU" for CPU-only attempts). */
function workLost(v: PreemptionCandidate, now: number): number {
  return Math.max(0, now - v.startedAt) * Math.max(1, v.gpuIndices.length);
}

/**
 * Where `job` could start by preempting, and whom. On each worker that
 * could ever run it, victims are taken lowest priority first, then least
 * work lost, then most recently started, until the job fits; then every
 * victim the job can do without is given back, so no more is freed than it
 * needs. Among workers, the plan whose most important victim matters least
 * wins, then the least work lost, then the fewest victims. Undefined when
 * no worker can make room. Pure: `now` is an argument.
 */
export function planPreemption(
  job: RunnableJob, workers: readonly WorkerNode[], running: readonly PreemptionCandidate[], now: number, policy: PreemptionPolicy,
): PreemptionPlan | undefined {
  let best: { plan: PreemptionPlan; top: PreemptionCandidate; lost: number } | undefined;
  for (const node of workers) {
    const state = new WorkerState(node);
    if (!node.schedulable || !state.admits(job) || !state.couldEverFit(job)) continue;
    const candidates = running
      .filter((v) => v.workerId === node.id && v.jobId !== job.id && mayPreempt(job, v, now, policy))
      .sort((a, b) => a.queuePriority - b.queuePriority || a.priority - b.priority || workLost(a, now) - workLost(b, now) || b.startedAt - a.startedAt);
    const chosen: PreemptionCandidate[] = [];
    for (const v of candidates) {
      if (fitsWithout(job, node, chosen)) break;
      chosen.push(v);
    }
    if (chosen.length === 0 || !fitsWithout(job, node, chosen)) continue;
    // Give back what is not needed, least valuable to keep first tried last: the most important victims go back first.
    for (let i = chosen.length - 1; i >= 0; i--) {
      const without = chosen.filter((_, k) => k !== i);
      if (fitsWithout(job, node, without)) chosen.splice(i, 1);
    }
    const top = chosen.reduce((a, v) => (outranks(v, a) ? v : a));
    const lost = chosen.reduce((s, v) => s + workLost(v, now), 0);
    const better = !best || outranks(best.top, top) || (!outranks(top, best.top) && (lost < best.lost || (lost === best.lost && chosen.length < best.plan.victims.length)));
    if (better) best = { plan: { jobId: job.id, workerId: node.id, victims: chosen.map((v) => v.jobId) }, top, lost };
  }
  return best?.plan;
}

/** Whether the job fits on the worker once `victims` have given back what they hold. */
export function fitsWithout(job: RunnableJob, node: WorkerNode, victims: readonly PreemptionCandidate[]): boolean {
  const freedGpus = new Set(victims.flatMap((v) => v.gpuIndices));
  const freed: WorkerNode = {
    ...node,
    allocated: {
      vcpus: node.allocated.vcpus - victims.reduce((s, v) => s + v.vcpus, 0),
      memoryMiB: node.allocated.memoryMiB - victims.reduce((s, v) => s + v.memoryMiB, 0),
      gpuIndices: node.allocated.gpuIndices.filter((g) => !freedGpus.has(g)),
    },
  };
  return new WorkerState(freed).fitsNow(job);
}
