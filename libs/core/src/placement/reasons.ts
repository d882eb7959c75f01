import { formatMoney } from '../billing.js';
import { fromMilliCpu, toMilliCpu } from '../resources.js';
import type { RunnableJob } from './types.js';
import type { WorkerState } from './worker-state.js';

/** "14:05Z" today, or a full UTC time further away: when a reservation is expected to start. */
export function formatTime(ms: number): string {
  const date = new Date(ms);
  // A gang's reservation behind jobs without a timeout has no estimated start (Infinity).
  if (Number.isNaN(date.getTime())) return 'an unknown time';
  const iso = date.toISOString();
  return `${iso.slice(0, 16).replace('T', ' ')}Z`;
}

/** `QUOTA: project vision holds 16/16 GPUs; this job needs 4` */
export function quotaReason(project: string, held: number, quota: number, needs: number): string {
  return `QUOTA: project ${project} holds ${held}/${quota} GPUs; this job needs ${needs}`;
}

/** `BUDGET: project vision spent 1,002.40 of 1,000.00 USD in 2026-11` */
export function budgetReason(project: string, b: { spent: string; budget: string; currency: string; month: string }): string {
  return `BUDGET: project ${project} spent ${formatMoney(b.spent, b.currency).slice(0, -4)} of ${formatMoney(b.budget, b.currency)} in ${b.month}`;
}

/** "4 GPU (A100|H100), 8 vCPU, 32768 MiB" */
export function describeRequest(job: RunnableJob): string {
  const r = job.resources;
  const parts: string[] = [];
  if (r.gpus > 0) parts.push(`${r.gpus} GPU${r.gpuModel?.length ? ` (${r.gpuModel.join('|')})` : ''}`);
  parts.push(`${r.vcpus} vCPU`, `${r.memoryMiB} MiB`);
  return parts.join(', ');
}

function where(job: RunnableJob): string {
  const parts: string[] = [];
  if (job.pools.length) parts.push(`in pools [${job.pools.join(', ')}]`);
  if (job.labelSelector?.length) parts.push('matching its labelSelector');
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/**
 * Why a job that was neither placed nor given a reservation waits:
 * UNSCHEDULABLE (no worker could ever run it), PRIORITY (capacity exists
 * but jobs ahead took it or hold it reserved), or RESOURCE (not enough free now).
 */
export interface Explanation {
  /** The reason when no job of the same queue is ahead of this one. */
  text: string;
  /** True when free capacity existed at the start of the pass: jobs ahead took it. */
  takenByJobsAhead: boolean;
}

/** The reason for a waiting job, given how many jobs of its queue wait ahead of it. */
export function waitingReason(job: RunnableJob, explanation: Explanation, ahead: number): string {
  return explanation.takenByJobsAhead && ahead > 0 ? priorityReason(ahead, job.queue) : explanation.text;
}

/**
 * `PRIORITY: 12 jobs ahead in queue train`. Past 100 the count is rounded to
 * two significant digits ("about 1,200"), so a deep queue's reasons do not
 * all change, and get rewritten, each time the job at its head starts.
 */
export function priorityReason(ahead: number, queue: string): string {
  if (ahead < 100) return `PRIORITY: ${ahead} jobs ahead in queue ${queue}`;
  const unit = 10 ** (Math.floor(Math.log10(ahead)) - 1);
  return `PRIORITY: about ${withThousands(Math.round(ahead / unit) * unit)} jobs ahead in queue ${queue}`;
}

// Not toLocaleString: it costs a microsecond a call, and a pass formats one reason per waiting job.
function withThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Why jobs of this shape wait; the same for every job of the shape in one pass, so it is computed once. */
export function explain(job: RunnableJob, workers: readonly WorkerState[], blocker: WorkerState | undefined): Explanation {
  const text = (t: string): Explanation => ({ text: t, takenByJobsAhead: false });
  const r = job.resources;
  const eligible = workers.filter((w) => w.node.schedulable && w.admits(job));
  if (eligible.length === 0) return text(`UNSCHEDULABLE: no active worker${where(job)} to run it`);
  if (!eligible.some((w) => w.couldEverFit(job))) {
    if (r.gpus > 0 && !eligible.some((w) => w.capacityCountFor(r.gpuModel) >= r.gpus)) {
      let largest = -Infinity;
      for (const w of eligible) largest = Math.max(largest, w.capacityCountFor(r.gpuModel));
      return text(`UNSCHEDULABLE: no worker${where(job)} has ${r.gpus} GPU${r.gpuModel?.length ? ` (${r.gpuModel.join('|')})` : ''} (largest: ${largest})`);
    }
    const maxCpu = Math.max(...eligible.map((w) => w.node.capacity.vcpus));
    const maxMem = Math.max(...eligible.map((w) => w.node.capacity.memoryMiB));
    return text(toMilliCpu(r.vcpus) > toMilliCpu(maxCpu)
      ? `UNSCHEDULABLE: no worker${where(job)} has ${r.vcpus} vCPU (largest: ${maxCpu})`
      : r.memoryMiB > maxMem
        ? `UNSCHEDULABLE: no worker${where(job)} has ${r.memoryMiB} MiB (largest: ${maxMem})`
        : `UNSCHEDULABLE: no worker${where(job)} has ${describeRequest(job)} at once`);
  }
  if (blocker?.reservation) {
    return text(`PRIORITY: worker ${blocker.node.id} is reserved for job ${blocker.reservation.jobId} from ${formatTime(blocker.reservation.startAt)}; ` +
      (job.timeoutSeconds ? 'this job would not end before then' : 'a job without timeoutSeconds cannot backfill'));
  }
  const fitAtStart = eligible.some((w) => w.initialFree.milliCpu >= toMilliCpu(r.vcpus) && w.initialFree.memoryMiB >= r.memoryMiB && w.initialFree.gpus >= r.gpus);
  if (r.gpus > 0) {
    // The first worker with the most free GPUs of an allowed model.
    let best = eligible[0];
    let bestFree = best.freeCountFor(job);
    for (const w of eligible) {
      const free = w.freeCountFor(job);
      if (free > bestFree) {
        best = w;
        bestFree = free;
      }
    }
    return {
      takenByJobsAhead: fitAtStart,
      text: `RESOURCE: needs ${describeRequest(job)}; largest free block is ${bestFree} on worker ${best.node.id}`,
    };
  }
  const best = eligible.reduce((a, w) => (w.milliCpu > a.milliCpu ? w : a));
  return {
    takenByJobsAhead: fitAtStart,
    text: `RESOURCE: needs ${describeRequest(job)}; most free is ${fromMilliCpu(best.milliCpu)} vCPU, ${best.memoryMiB} MiB on worker ${best.node.id}`,
  };
}
