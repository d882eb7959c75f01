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
}

/**
 * Where each queue stands in the last order, so that the order can be
 * edited in place: queue `q` is `OrderedJobs.queueNames[q]`; queues of one
 * priority form a group, and groups follow one another whole in the order.
 */
interface Layout {
  index: Map<string, number>;
  /** Per queue: its priority, and whether it is FIFO with every job of that priority (its jobs are then in compareInQueue order). */
  priority: number[];
  fifo: boolean[];
  /** Per queue: how many jobs it has, and its group. */
  size: number[];
  group: number[];
  /** Per group: where it ends in the order, and whether all its queues are FIFO (its jobs are then in compareInQueue order, merged). */
  groupEnd: number[];
  groupSorted: boolean[];
  /** How many jobs are nodes of a multi-node job. */
  gangJobs: number;
}

/** How the kept order was edited into the latest one: which jobs left it and which came, where. */
export interface OrderEdit {
  /** The order it was edited from: to tell which it was, not to read (its arrays are this one's, edited). */
  from: OrderedJobs;
  /** Positions in `from` of the jobs that left, ascending. */
  removed: Int32Array;
  /** Positions in the new order of the jobs that came, ascending. */
  added: Int32Array;
  /** For each job that came: the position in `from` of the job it went in ahead of (`from.jobs.length`: the end). */
  addedAt: Int32Array;
}

/**
 * The order of jobs kept between passes, so a pass does not sort a million
 * jobs again when few or none changed. When every job that came or left is
 * in a FIFO queue (whose jobs, merged with the other queues of its
 * priority, are in compareInQueue order), the last order is edited in
 * place: the jobs that left are found and the new ones placed by binary
 * search, and only the jobs behind them move (`edit` then says what
 * changed; an order given out before is then no longer to be read). Otherwise
 * each queue's order is reused when its jobs are the same objects as last
 * time, and updated by dropping the jobs that left and merging the new ones
 * in (jobs are immutable: the same object keeps its place). Shapes are
 * worked out once per job, when it enters. The result is what sorting from
 * scratch gives.
 */
export class PassOrder {
  // Each queue's order as of the last order that was built, not edited: behind after edits, but still a right
  // order for the jobs it holds, and so a good start for the next build.
  private queues = new Map<string, QueueOrder>();
  private lastInput: RunnableJob[] = [];
  private lastFairShare: SchedulingPolicy['fairShare'];
  private last: OrderedJobs | undefined;
  /** The arrays behind the last order, edited in place: the typed ones have room to grow, the order's are views of them. */
  private kept: { jobs: RunnableJob[]; ids: string[]; timeouts: Float64Array; flags: Uint8Array; shapes: Int32Array; queues: Int32Array } | undefined;
  private layout: Layout | undefined;
  /** How the latest order was made from the one before, when it was edited; undefined when it was built or is the same. */
  edit: OrderEdit | undefined;

  /** Forgets everything (the caller renumbered its shapes). */
  reset(): void {
    this.queues = new Map();
    this.lastInput = [];
    this.last = undefined;
    this.layout = undefined;
    this.kept = undefined;
    this.edit = undefined;
  }

  order(jobs: readonly RunnableJob[], fairShare: SchedulingPolicy['fairShare'], shapeOf: (job: RunnableJob) => number): OrderedJobs {
    this.edit = undefined;
    if (this.last && fairShare === this.lastFairShare) {
      if (sameJobs(jobs, this.lastInput)) return this.last;
      const edited = this.edited(jobs, this.last, this.layout!, shapeOf);
      if (edited) {
        // Copied into the last copy, not sliced afresh (see `edited`).
        const input = this.lastInput;
        if (input.length > jobs.length) input.length = jobs.length;
        for (let i = 0; i < input.length; i++) input[i] = jobs[i];
        for (let i = input.length; i < jobs.length; i++) input.push(jobs[i]);
        this.last = edited;
        return edited;
      }
    }
    const byQueue = new Map<string, RunnableJob[]>();
    for (const job of jobs) {
      const list = byQueue.get(job.queue);
      if (list) list.push(job);
      else byQueue.set(job.queue, [job]);
    }
    const next = new Map<string, QueueOrder>();
    for (const [name, list] of byQueue) next.set(name, queueOrder(this.queues.get(name), list, fairShare, shapeOf));
    this.queues = next;

    // Stable: queues of equal priority keep the order they first appear in.
    const streams = [...next.entries()].sort((a, b) => b[1].stream[0].queuePriority - a[1].stream[0].queuePriority);
    const queueNames = streams.map(([name]) => name);
    const layout: Layout = { index: new Map(), priority: [], fifo: [], size: [], group: [], groupEnd: [], groupSorted: [], gangJobs: 0 };
    const out: RunnableJob[] = new Array(jobs.length);
    const shapes = new Int32Array(jobs.length);
    const queues = new Int32Array(jobs.length);
    let k = 0;
    for (let i = 0; i < streams.length; ) {
      let j = i;
      while (j < streams.length && streams[j][1].stream[0].queuePriority === streams[i][1].stream[0].queuePriority) j++;
      const group = layout.groupEnd.length;
      let sorted = true;
      for (let q = i; q < j; q++) {
        const stream = streams[q][1].stream;
        layout.index.set(queueNames[q], q);
        layout.priority.push(stream[0].queuePriority);
        layout.fifo.push(isFifo(stream));
        layout.size.push(stream.length);
        layout.group.push(group);
        sorted &&= layout.fifo[q];
      }
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
      layout.groupEnd.push(k);
      layout.groupSorted.push(sorted);
      i = j;
    }
    const ids = new Array<string>(out.length);
    const timeouts = new Float64Array(out.length);
    const flags = new Uint8Array(out.length);
    for (let i = 0; i < out.length; i++) {
      const job = out[i];
      ids[i] = job.id;
      timeouts[i] = job.timeoutSeconds ?? Infinity;
      flags[i] = flagsOf(job);
      if (job.gang) layout.gangJobs++;
    }
    this.lastInput = jobs.slice();
    this.lastFairShare = fairShare;
    this.layout = layout;
    this.kept = { jobs: out, ids, timeouts, flags, shapes, queues };
    this.last = { jobs: out, ids, timeouts, flags, shapes, hasGangs: layout.gangJobs > 0, queues, queueNames };
    return this.last;
  }

  /**
   * The last order with the jobs that left taken out and the new ones put in
   * their places, or undefined when that cannot be done by search alone: a
   * job came to or left a queue that is not FIFO or shares its priority with
   * one that is not, a new queue appeared or a queue emptied, a job's queue
   * priority differs from its queue's, a new job ties with another in
   * compareInQueue, or the jobs were given in another order than last time.
   */
  private edited(jobs: readonly RunnableJob[], last: OrderedJobs, layout: Layout, shapeOf: (job: RunnableJob) => number): OrderedJobs | undefined {
    // Walk the input alongside the last one: the jobs kept are the same objects, mostly in the same places.
    const before = this.lastInput;
    const arrivals: RunnableJob[] = [];
    const removedAt: number[] = [];
    const leave = (job: RunnableJob): boolean => {
      const at = findInOrder(job, last, layout);
      if (at === undefined || at < 0) return false;
      removedAt.push(at);
      return true;
    };
    let p = 0;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i];
      if (p < before.length && job === before[p]) {
        p++;
        continue;
      }
      const at = findInOrder(job, last, layout);
      if (at === undefined) return undefined;
      if (at < 0) {
        arrivals.push(job);
        continue;
      }
      // A kept job further on: the ones before it left. Were the jobs given in another order, one of those comes
      // up later, is not found after `p`, and the order is built instead.
      while (p < before.length && before[p] !== job) if (!leave(before[p++])) return undefined;
      if (p === before.length) return undefined;
      p++;
    }
    while (p < before.length) if (!leave(before[p++])) return undefined;

    const queueSize = layout.size.slice();
    let gangJobs = layout.gangJobs;
    for (const at of removedAt) {
      queueSize[last.queues[at]]--;
      if (last.flags[at] & JOB_IN_GANG) gangJobs--;
    }
    const queueOf = new Int32Array(arrivals.length);
    for (let a = 0; a < arrivals.length; a++) {
      const job = arrivals[a];
      const q = layout.index.get(job.queue);
      if (q === undefined || job.queuePriority !== layout.priority[q] || job.fairShare || !layout.groupSorted[layout.group[q]]) return undefined;
      queueOf[a] = q;
      queueSize[q]++;
      if (job.gang) gangJobs++;
    }
    if (queueSize.some((count) => count === 0)) return undefined;
    // In order: by group (groups follow one another), then as in the queue.
    const picks = Array.from({ length: arrivals.length }, (_, a) => a)
      .sort((x, y) => layout.group[queueOf[x]] - layout.group[queueOf[y]] || compareInQueue(arrivals[x], arrivals[y]));
    const addedAt = new Int32Array(arrivals.length);
    for (let a = 0; a < picks.length; a++) {
      const job = arrivals[picks[a]];
      const g = layout.group[queueOf[picks[a]]];
      const at = lowerBound(last.jobs, g === 0 ? 0 : layout.groupEnd[g - 1], layout.groupEnd[g], job);
      // A tie in compareInQueue (two jobs of one id) is ordered by where the jobs were given: build the order.
      if (at < layout.groupEnd[g] && compareInQueue(last.jobs[at], job) === 0) return undefined;
      if (a > 0 && compareInQueue(arrivals[picks[a - 1]], job) === 0) return undefined;
      addedAt[a] = at;
    }
    removedAt.sort((x, y) => x - y);

    // Edited in place, not copied: a fresh array of a hundred thousand entries per pass costs more than the pass
    // (page faults and the garbage collector); moving the jobs behind each change costs a memmove's worth.
    const kept = this.kept!;
    const n = last.jobs.length;
    const size = n - removedAt.length + arrivals.length;
    if (size > kept.timeouts.length) {
      // Room to spare, so that the next new jobs go in without another copy.
      const room = size + (size >> 2) + 1024;
      kept.timeouts = grown(kept.timeouts, new Float64Array(room), n);
      kept.flags = grown(kept.flags, new Uint8Array(room), n);
      kept.shapes = grown(kept.shapes, new Int32Array(room), n);
      kept.queues = grown(kept.queues, new Int32Array(room), n);
    }
    const { jobs: out, ids, timeouts, flags, shapes, queues } = kept;
    const move = (from: number, to: number) => {
      out[to] = out[from];
      ids[to] = ids[from];
      timeouts[to] = timeouts[from];
      flags[to] = flags[from];
      shapes[to] = shapes[from];
      queues[to] = queues[from];
    };
    // The jobs that left: those behind the first of them move up.
    let stayed = n;
    if (removedAt.length > 0) {
      let to = removedAt[0];
      for (let from = to, r = 0; from < n; from++) {
        if (r < removedAt.length && removedAt[r] === from) r++;
        else move(from, to++);
      }
      stayed = to;
      out.length = stayed;
      ids.length = stayed;
    }
    // The new ones, last first: the jobs behind each move down to make room.
    for (const job of arrivals) {
      out.push(job);
      ids.push(job.id);
    }
    const added = new Int32Array(arrivals.length);
    let from = stayed - 1;
    let to = size - 1;
    let removedAhead = removedAt.length;
    for (let a = arrivals.length - 1; a >= 0; a--) {
      // Its place among the jobs that stayed: its place in the last order, less the jobs ahead of it that left.
      while (removedAhead > 0 && removedAt[removedAhead - 1] >= addedAt[a]) removedAhead--;
      const at = addedAt[a] - removedAhead;
      while (from >= at) move(from--, to--);
      const job = arrivals[picks[a]];
      out[to] = job;
      ids[to] = job.id;
      timeouts[to] = job.timeoutSeconds ?? Infinity;
      flags[to] = flagsOf(job);
      shapes[to] = shapeOf(job);
      queues[to] = queueOf[picks[a]];
      added[a] = to--;
    }

    const groupSize = new Array<number>(layout.groupEnd.length).fill(0);
    for (let q = 0; q < queueSize.length; q++) groupSize[layout.group[q]] += queueSize[q];
    let end = 0;
    this.layout = { ...layout, size: queueSize, gangJobs, groupEnd: groupSize.map((s) => (end += s)) };
    this.edit = { from: last, removed: Int32Array.from(removedAt), added, addedAt };
    return {
      jobs: out, ids, timeouts: timeouts.subarray(0, size), flags: flags.subarray(0, size), shapes: shapes.subarray(0, size),
      hasGangs: gangJobs > 0, queues: queues.subarray(0, size), queueNames: last.queueNames,
    };
  }
}

/** `into` with the first `used` entries of `from`. */
function grown<A extends Float64Array | Uint8Array | Int32Array>(from: A, into: A, used: number): A {
  into.set(from.subarray(0, used) as never);
  return into;
}

function flagsOf(job: RunnableJob): number {
  return (job.gang ? JOB_IN_GANG : 0) | (job.project !== undefined ? JOB_HAS_PROJECT : 0);
}

/** Whether a queue's stream is FIFO with one queue priority throughout: its jobs are then in compareInQueue order. */
function isFifo(stream: readonly RunnableJob[]): boolean {
  const priority = stream[0].queuePriority;
  for (const job of stream) if (job.fairShare || job.queuePriority !== priority) return false;
  return true;
}

/** The first position in [lo, hi) of `jobs` (in compareInQueue order there) whose job does not come before `job`. */
function lowerBound(jobs: readonly RunnableJob[], lo: number, hi: number, job: RunnableJob): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareInQueue(jobs[mid], job) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where `job` is in the order (-1: not in it), found by search; undefined when its queue's group is not in compareInQueue order. */
function findInOrder(job: RunnableJob, order: OrderedJobs, layout: Layout): number | undefined {
  const q = layout.index.get(job.queue);
  if (q === undefined) return -1;
  const g = layout.group[q];
  if (!layout.groupSorted[g]) return undefined;
  const end = layout.groupEnd[g];
  for (let at = lowerBound(order.jobs, g === 0 ? 0 : layout.groupEnd[g - 1], end, job); at < end && compareInQueue(order.jobs[at], job) === 0; at++) {
    if (order.jobs[at] === job) return at;
  }
  return -1;
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
  if (prev && sameJobs(list, prev.input)) {
    if (!prev.fifo[0].fairShare || prev.fairShare === fairShare) return prev;
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
  if (!fifo[0].fairShare) return { input: list, fifo, fifoShapes, stream: fifo, streamShapes: fifoShapes, fairShare };
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
