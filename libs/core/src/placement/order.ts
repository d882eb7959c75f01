import type { RunnableJob, SchedulingPolicy } from './types.js';

// A job without a timeout is charged an hour of its GPUs when fair share interleaves projects.
const NOMINAL_RUN_SECONDS = 3600;

/** Inside a queue: job priority (higher first), then submit time, then id. */
export function compareInQueue(a: RunnableJob, b: RunnableJob): number {
  return b.priority - a.priority || a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The order in which the core considers jobs: queue priority (higher first);
 * inside a queue FIFO by job priority and submit time, or for FAIR_SHARE
 * queues interleaved across projects by decayed usage over weight (Slurm's
 * fair share); queues of equal priority merged by their next job.
 */
export function orderJobs(jobs: readonly RunnableJob[], fairShare?: SchedulingPolicy['fairShare']): RunnableJob[] {
  return [...new PassOrder().order(jobs, fairShare, () => 0).jobs];
}

/** A job of a multi-node job (in `OrderedJobs.flags`). */
export const JOB_IN_GANG = 1;
/** A job billed to a project (in `OrderedJobs.flags`). */
export const JOB_HAS_PROJECT = 2;

/**
 * One pass's jobs in order, with what the pass reads of every job alongside
 * in flat arrays: a pass over a million waiting jobs then mostly reads
 * arrays, not a million objects spread over the heap.
 */
export interface OrderedJobs {
  jobs: readonly RunnableJob[];
  ids: readonly string[];
  /** timeoutSeconds, Infinity when it has none. */
  timeouts: Float64Array;
  /** JOB_IN_GANG | JOB_HAS_PROJECT. */
  flags: Uint8Array;
  shapes: Int32Array;
  /** Whether any job is a node of a multi-node job. */
  hasGangs: boolean;
  /** Index into `queueNames`. */
  queues: Int32Array;
  queueNames: readonly string[];
}

/** One queue's jobs as last seen, and their order. */
interface QueueOrder {
  /** The jobs as given (any order): unchanged next pass means the order is unchanged. */
  input: RunnableJob[];
  fifo: RunnableJob[];
  fifoShapes: Int32Array;
  /** The order the pass takes them in: `fifo`, or its fair-share interleaving. */
  stream: RunnableJob[];
  streamShapes: Int32Array;
  fairShare: SchedulingPolicy['fairShare'];
  /** How many jobs were added at the end of the last pass's stream, which is otherwise as it was (-1: it changed). */
  appended?: number;
}

/**
 * The order of jobs kept between passes, so a pass does not sort a million
 * jobs again when few or none changed: each queue's order is reused when
 * its jobs are the same objects as last time, and otherwise updated by
 * dropping the jobs that left and merging the new ones in (jobs are
 * immutable: the same object keeps its place). Shapes are worked out once
 * per job, when it enters. The result is what sorting from scratch gives.
 */
export class PassOrder {
  private queues = new Map<string, QueueOrder>();
  private lastInput: readonly RunnableJob[] = [];
  private lastFairShare: SchedulingPolicy['fairShare'];
  private last: OrderedJobs | undefined;

  /** Forgets everything (the caller renumbered its shapes). */
  reset(): void {
    this.queues = new Map();
    this.lastInput = [];
    this.last = undefined;
  }

  order(jobs: readonly RunnableJob[], fairShare: SchedulingPolicy['fairShare'], shapeOf: (job: RunnableJob) => number): OrderedJobs {
    if (this.last && fairShare === this.lastFairShare && sameJobs(jobs, this.lastInput)) return this.last;
    const byQueue = new Map<string, RunnableJob[]>();
    for (const job of jobs) {
      const list = byQueue.get(job.queue);
      if (list) list.push(job);
      else byQueue.set(job.queue, [job]);
    }
    const next = new Map<string, QueueOrder>();
    for (const [name, list] of byQueue) next.set(name, queueOrder(this.queues.get(name), list, fairShare, shapeOf));
    const previous = this.queues;
    this.queues = next;
    const extended = this.last && fairShare === this.lastFairShare ? this.extend(this.last, previous, next) : undefined;
    if (extended) {
      this.lastInput = jobs.slice();
      this.last = extended;
      return extended;
    }

    // Stable: queues of equal priority keep the order they first appear in.
    const streams = [...next.entries()].sort((a, b) => b[1].stream[0].queuePriority - a[1].stream[0].queuePriority);
    const queueNames = streams.map(([name]) => name);
    const out: RunnableJob[] = new Array(jobs.length);
    const shapes = new Int32Array(jobs.length);
    const queues = new Int32Array(jobs.length);
    let k = 0;
    for (let i = 0; i < streams.length; ) {
      let j = i;
      while (j < streams.length && streams[j][1].stream[0].queuePriority === streams[i][1].stream[0].queuePriority) j++;
      if (j - i === 1) {
        const q = streams[i][1];
        for (let x = 0; x < q.stream.length; x++, k++) {
          out[k] = q.stream[x];
          shapes[k] = q.streamShapes[x];
          queues[k] = i;
        }
      } else {
        // k-way merge of same-priority queues, each already in its own order.
        const heads = new Array<number>(j - i).fill(0);
        for (;;) {
          let pick = -1;
          for (let s = 0; s < j - i; s++) {
            const stream = streams[i + s][1].stream;
            if (heads[s] >= stream.length) continue;
            if (pick < 0 || compareInQueue(stream[heads[s]], streams[i + pick][1].stream[heads[pick]]) < 0) pick = s;
          }
          if (pick < 0) break;
          const q = streams[i + pick][1];
          out[k] = q.stream[heads[pick]];
          shapes[k] = q.streamShapes[heads[pick]];
          queues[k] = i + pick;
          heads[pick]++;
          k++;
        }
      }
      i = j;
    }
    const ids = new Array<string>(out.length);
    const timeouts = new Float64Array(out.length);
    const flags = new Uint8Array(out.length);
    let hasGangs = false;
    for (let i = 0; i < out.length; i++) {
      const job = out[i];
      ids[i] = job.id;
      timeouts[i] = job.timeoutSeconds ?? Infinity;
      flags[i] = (job.gang ? JOB_IN_GANG : 0) | (job.project !== undefined ? JOB_HAS_PROJECT : 0);
      if (job.gang) hasGangs = true;
    }
    this.lastInput = jobs.slice();
    this.lastFairShare = fairShare;
    this.last = { jobs: out, ids, timeouts, flags, shapes, hasGangs, queues, queueNames };
    return this.last;
  }

  /**
   * The last order with jobs added at the end of their queues, when that is
   * all that changed and no two queues share a priority (queues then follow
   * one another whole): the last order's arrays are copied by queue, and only
   * the new jobs are read. Undefined otherwise.
   */
  private extend(last: OrderedJobs, previous: Map<string, QueueOrder>, next: Map<string, QueueOrder>): OrderedJobs | undefined {
    if (next.size !== last.queueNames.length) return undefined;
    const priorities = new Set<number>();
    let total = 0;
    for (let q = 0; q < last.queueNames.length; q++) {
      const now = next.get(last.queueNames[q]);
      const before = previous.get(last.queueNames[q]);
      if (!now || !before || now.appended === undefined || now.appended < 0) return undefined;
      const priority = now.stream[0].queuePriority;
      if (priorities.has(priority)) return undefined;
      priorities.add(priority);
      total += now.stream.length;
    }
    const out: RunnableJob[] = new Array(total);
    const ids = new Array<string>(total);
    const shapes = new Int32Array(total);
    const queues = new Int32Array(total);
    const timeouts = new Float64Array(total);
    const flags = new Uint8Array(total);
    let hasGangs = last.hasGangs;
    let from = 0;
    let k = 0;
    for (let q = 0; q < last.queueNames.length; q++) {
      const stream = next.get(last.queueNames[q])!;
      const kept = stream.stream.length - stream.appended!;
      // The kept part of the queue, as the last order has it.
      shapes.set(last.shapes.subarray(from, from + kept), k);
      timeouts.set(last.timeouts.subarray(from, from + kept), k);
      flags.set(last.flags.subarray(from, from + kept), k);
      queues.fill(q, k, k + stream.stream.length);
      for (let x = 0; x < kept; x++) {
        out[k + x] = last.jobs[from + x];
        ids[k + x] = last.ids[from + x];
      }
      from += kept;
      k += kept;
      for (let x = kept; x < stream.stream.length; x++, k++) {
        const job = stream.stream[x];
        out[k] = job;
        ids[k] = job.id;
        shapes[k] = stream.streamShapes[x];
        timeouts[k] = job.timeoutSeconds ?? Infinity;
        flags[k] = (job.gang ? JOB_IN_GANG : 0) | (job.project !== undefined ? JOB_HAS_PROJECT : 0);
        if (job.gang) hasGangs = true;
      }
    }
    if (from !== last.jobs.length) return undefined;
    return { jobs: out, ids, timeouts, flags, shapes, hasGangs, queues, queueNames: last.queueNames };
  }
}

/** Whether `list` is `prefix` (the same jobs in the same places) and then more. */
function startsWith(list: readonly RunnableJob[], prefix: readonly RunnableJob[]): boolean {
  if (list.length <= prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (list[i] !== prefix[i]) return false;
  return true;
}

function sameJobs(a: readonly RunnableJob[], b: readonly RunnableJob[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function queueOrder(
  prev: QueueOrder | undefined, list: RunnableJob[], fairShare: SchedulingPolicy['fairShare'], shapeOf: (job: RunnableJob) => number,
): QueueOrder {
  let fifo: RunnableJob[];
  let fifoShapes: Int32Array;
  // Jobs added after all the kept ones: the stream is the last one and then them (FIFO queues only).
  let appended = -1;
  if (prev && sameJobs(list, prev.input)) {
    if (!prev.fifo[0].fairShare || prev.fairShare === fairShare) return { ...prev, appended: 0 };
    fifo = prev.fifo;
    fifoShapes = prev.fifoShapes;
  } else if (prev) {
    // Keep the order of the jobs that stayed, merge the new ones in.
    let keptJobs: RunnableJob[] | readonly RunnableJob[];
    let keptShapes: number[] | Int32Array;
    let added: RunnableJob[] = [];
    if (startsWith(list, prev.input)) {
      // Only new jobs, given after the others (a scheduler's runnable set in arrival order): no job left, none to look up.
      keptJobs = prev.fifo;
      keptShapes = prev.fifoShapes;
      added = sortInQueue(list.slice(prev.input.length));
    } else {
      const present = new Set(list);
      const jobs: RunnableJob[] = [];
      const shapes: number[] = [];
      for (let i = 0; i < prev.fifo.length; i++) {
        if (!present.has(prev.fifo[i])) continue;
        jobs.push(prev.fifo[i]);
        shapes.push(prev.fifoShapes[i]);
      }
      keptJobs = jobs;
      keptShapes = shapes;
      // Most often jobs only left (placed): then nothing is new.
      if (keptJobs.length < list.length) {
        const kept = new Set(keptJobs);
        added = sortInQueue(list.filter((j) => !kept.has(j)));
      }
    }
    fifo = new Array(list.length);
    fifoShapes = new Int32Array(list.length);
    // The kept jobs ahead of the first new one are copied as they are: new jobs mostly go at the end.
    let a = 0;
    if (added.length > 0) {
      let hi = keptJobs.length;
      while (a < hi) {
        const mid = (a + hi) >>> 1;
        if (compareInQueue(keptJobs[mid], added[0]) < 0) a = mid + 1;
        else hi = mid;
      }
    } else a = keptJobs.length;
    if (a === keptJobs.length && keptJobs === prev.fifo) appended = added.length;
    for (let k = 0; k < a; k++) {
      fifo[k] = keptJobs[k];
      fifoShapes[k] = keptShapes[k];
    }
    let b = 0;
    for (let k = a; k < list.length; k++) {
      if (b >= added.length || (a < keptJobs.length && compareInQueue(keptJobs[a], added[b]) < 0)) {
        fifo[k] = keptJobs[a];
        fifoShapes[k] = keptShapes[a++];
      } else {
        fifo[k] = added[b];
        fifoShapes[k] = shapeOf(added[b++]);
      }
    }
  } else {
    fifo = sortInQueue(list.slice());
    fifoShapes = new Int32Array(fifo.length);
    for (let i = 0; i < fifo.length; i++) fifoShapes[i] = shapeOf(fifo[i]);
  }
  if (!fifo[0].fairShare) return { input: list, fifo, fifoShapes, stream: fifo, streamShapes: fifoShapes, fairShare, appended };
  const picks = fairShareOrder(fifo, fairShare);
  const stream = new Array<RunnableJob>(picks.length);
  const streamShapes = new Int32Array(picks.length);
  for (let i = 0; i < picks.length; i++) {
    stream[i] = fifo[picks[i]];
    streamShapes[i] = fifoShapes[picks[i]];
  }
  return { input: list, fifo, fifoShapes, stream, streamShapes, fairShare };
}

/**
 * compareInQueue's order, sorting each job priority on its own: jobs arrive
 * mostly in submit order, which the sort then only has to confirm.
 */
function sortInQueue(list: RunnableJob[]): RunnableJob[] {
  const byPriority = new Map<number, RunnableJob[]>();
  for (const job of list) {
    const group = byPriority.get(job.priority);
    if (group) group.push(job);
    else byPriority.set(job.priority, [job]);
  }
  if (byPriority.size <= 1) return list.sort(compareInQueue);
  const out: RunnableJob[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => b - a)) {
    for (const job of byPriority.get(priority)!.sort(compareInQueue)) out.push(job);
  }
  return out;
}

/**
 * Positions in `jobs` (FIFO order): repeatedly the next job of the project
 * with the least (usage + already ordered) / weight.
 */
function fairShareOrder(jobs: RunnableJob[], fairShare: SchedulingPolicy['fairShare']): number[] {
  const byProject = new Map<string, number[]>();
  for (let i = 0; i < jobs.length; i++) {
    const project = jobs[i].project ?? 'default';
    const list = byProject.get(project);
    if (list) list.push(i);
    else byProject.set(project, [i]);
  }
  const projects = [...byProject.entries()].map(([name, list]) => ({
    name, list, next: 0,
    charged: fairShare?.usage.get(name) ?? 0,
    weight: Math.max(fairShare?.weights?.get(name) ?? 1, 1e-9),
  }));
  const ordered: number[] = [];
  while (ordered.length < jobs.length) {
    let pick: (typeof projects)[number] | undefined;
    for (const p of projects) {
      if (p.next >= p.list.length) continue;
      if (!pick || p.charged / p.weight < pick.charged / pick.weight || (p.charged / p.weight === pick.charged / pick.weight && p.name < pick.name)) pick = p;
    }
    const i = pick!.list[pick!.next++];
    ordered.push(i);
    const job = jobs[i];
    // Charge what the job is expected to use, so one pass does not hand everything to one project.
    pick!.charged += Math.max(job.resources.gpus, 0.001) * (job.timeoutSeconds ?? NOMINAL_RUN_SECONDS);
  }
  return ordered;
}
