import { toMilliCpu } from '../resources.js';
import { estimatedStart, holdsUntil, nowWindowEnd, openNowWindow } from './estimates.js';
import { fitGang, gangUnschedulable, gangWaitingReason, reserveGang } from './gang.js';
import { chooseGpus } from './gpu-choice.js';
import { JOB_HAS_PROJECT, JOB_IN_GANG, PassOrder, type OrderEdit, type OrderedJobs } from './order.js';
import { PassInputs } from './pass-inputs.js';
import { budgetReason, explain, formatTime, priorityReason, quotaReason, type Explanation } from './reasons.js';
import type { Placement, ProjectLimits, Reservation, RunnableJob, RunningAttempt, ScheduleInput, ScheduleResult, SchedulingPolicy } from './types.js';
import { WorkerIndex } from './worker-index.js';
import { WaitingReasons } from './waiting-reasons.js';
import { WorkerState } from './worker-state.js';

const DEFAULT_MAX_RESERVATIONS = 16;

/**
 * One scheduling pass. Pure: time is `input.now`, inputs are not mutated.
 * Jobs are taken in order (see orderJobs); each goes to the best-fitting
 * worker (fewest free GPUs that still fit, so large blocks stay whole) on the
 * GPUs chosen by chooseGpus. A job that fits nowhere reserves the worker
 * where it will fit soonest; later jobs use a reserved worker only if they
 * end before the reservation starts. A job whose project is at its GPU
 * quota or over its budget waits without holding anything up. A multi-node
 * job (gang) is placed all at once, one node per worker of one pool, or
 * waits holding reservations on the workers it will use. Every job left
 * waiting gets a reason.
 *
 * Successive calls share one Scheduler: a pass whose inputs are those of the
 * last one costs what changed (see Scheduler).
 */
export function schedule(input: ScheduleInput): ScheduleResult {
  return shared.schedule(input);
}

/** How the last pass was decided: walked over every job, the last pass's outcome reused, or new jobs taken on from where it ended. */
export type PassKind = 'full' | 'unchanged' | 'new-jobs';

/**
 * What a pass leaves for the next: what it read, for how long its outcome
 * holds as the clock moves on, and where its walk over the jobs ended.
 */
interface PassMemory {
  order: OrderedJobs;
  /** Undefined when the outcome is not to be reused. */
  inputs: PassInputs | undefined;
  fairShare: SchedulingPolicy['fairShare'];
  now: number;
  /** The outcome is the same at any time from `now` to `until`. */
  until: number;
  placements: Placement[];
  reservations: Reservation[];
  /** Per job of the order, its reason's index in `texts` (-1: placed): a view of `codesBuffer`, which has room to grow. */
  codes: Int32Array;
  codesBuffer: Int32Array;
  texts: string[];
  textCodes: Map<string, number>;
  waitingCount: number;
  /**
   * Per shape, where the walk learnt what it knows of the shape, so that a
   * job taken on later between two old positions meets the shape as the walk
   * knew it there: each time its shortest failed timeout went down (position,
   * timeout, position, timeout...), and where it found no worker to reserve
   * and explained it (timed and untimed jobs). Infinity: never.
   */
  noFitSteps: (number[] | undefined)[];
  noReservationAt: Float64Array;
  timedExplainedAt: Float64Array;
  untimedExplainedAt: Float64Array;
  /** Per project, the last position where a placement added to the GPUs it holds. */
  projectSettledAt: Map<string, number>;
  /** Where the last reservation the pass may make was made (Infinity: they did not run out). */
  reservationsFullAt: number;
  /** Where a strict-FIFO pass met the job that blocks the rest (Infinity: none). */
  strictBlockerAt: number;
  mode: 'backfill' | 'strict-fifo';
  shapeCount: number;
  noFit: Float64Array;
  noReservation: Uint8Array;
  timedExplanations: (Explanation | undefined)[];
  untimedExplanations: (Explanation | undefined)[];
  aheadInQueue: Int32Array;
  /** Per queue, the position of its last job (-1: none). */
  lastInQueue: Int32Array;
  strictBlocker: RunnableJob | undefined;
  gpusHeld: Map<string, number>;
}

/**
 * The core's scheduling passes, with what it keeps between them: the jobs'
 * order and shapes (PassOrder), and the last pass's outcome. A pass that
 * sees the same jobs, workers, attempts, limits and policy as the last one,
 * at a time its outcome still holds, returns that outcome without walking
 * the queue. A pass whose only change is new jobs that land where the last
 * walk had settled (after every placement, reservation and new finding of
 * it, behind every job of their own queue) and that would only wait there
 * is decided for those jobs alone. Anything else walks every job. Each way
 * gives exactly what walking every job from scratch gives.
 */
export class Scheduler {
  private readonly shapeIds = new Map<string, number>();
  private readonly passOrder = new PassOrder();
  private memory: PassMemory | undefined;
  // Counts the passes that edited the kept order (and reason codes) in place: a result's waiting reasons read them,
  // and are refused once they have been edited under it.
  private edits = 0;
  /** How the last pass was decided. */
  lastPassKind: PassKind = 'full';
  /**
   * After a pass that was not walked in full, the jobs it decided, with
   * their reasons (none when nothing changed): every other job's reason is
   * the one the pass before gave it. Undefined after a full walk.
   */
  lastDecided: readonly (readonly [id: string, reason: string])[] | undefined = undefined;
  /** Whether the last pass edited the kept order in place (jobs came to or left FIFO queues), rather than built it or found it the same. */
  lastOrderEdited = false;

  /** Forgets the last pass: the next one walks every job (its order is still kept). */
  forget(): void {
    this.memory = undefined;
  }

  schedule(input: ScheduleInput): ScheduleResult {
    if (this.shapeIds.size > MAX_SHAPES) {
      // A long-lived scheduler that met very many shapes starts its numbering again.
      this.shapeIds.clear();
      this.passOrder.reset();
      this.memory = undefined;
    }
    const fairShare = input.policy?.fairShare;
    const order = this.passOrder.order(input.jobs, fairShare, this.shapeIdOf);
    this.lastOrderEdited = this.passOrder.edit !== undefined;
    if (this.lastOrderEdited) this.edits++;
    const edits = this.edits;
    const stale = () => this.edits !== edits;
    const memory = this.memory;
    if (memory && fairShare === memory.fairShare && input.now >= memory.now && input.now <= memory.until && memory.inputs?.matches(input)) {
      if (order === memory.order) {
        this.lastPassKind = 'unchanged';
        this.lastDecided = [];
        return resultOf(memory, stale);
      }
      const edit = this.passOrder.edit;
      const taken = edit && edit.from === memory.order ? takeOnNewJobs(memory, order, edit, input.projects) : undefined;
      if (taken) {
        this.lastPassKind = 'new-jobs';
        this.lastDecided = Array.from(edit!.added, (i) => [order.ids[i], taken.texts[taken.codes[i]]] as const);
        this.memory = taken;
        return resultOf(taken, stale);
      }
    }
    this.lastPassKind = 'full';
    this.lastDecided = undefined;
    this.memory = walk(input, order, this.shapeIds.size);
    return resultOf(this.memory, stale);
  }

  private readonly shapeIdOf = (job: RunnableJob): number => {
    const key = shapeKey(job);
    let id = this.shapeIds.get(key);
    if (id === undefined) {
      id = this.shapeIds.size;
      this.shapeIds.set(key, id);
    }
    return id;
  };
}

function resultOf(m: PassMemory, stale: () => boolean): ScheduleResult {
  return {
    placements: m.placements.map((p) => ({ ...p, gpuDevices: [...p.gpuDevices] })),
    waiting: new WaitingReasons(m.order.ids, m.codes, m.texts, m.waitingCount, stale),
    reservations: m.reservations.map((r) => ({ ...r })),
  };
}

/**
 * The last pass with the new jobs of `edit` taken on, or undefined when that
 * would not be what a full walk gives: a job left, a new job lands ahead of
 * an old job of its queue (whose count of jobs ahead it changes) or where
 * the walk had not yet settled its shape or project, or it would be tried on
 * a worker, reserve one, or need a finding the last walk did not make (its
 * shape's explanation). A new job that only waits changes nothing for the
 * jobs after it but its own queue's count. Costs the new jobs, and copying
 * the reason codes around them.
 */
function takeOnNewJobs(m: PassMemory, order: OrderedJobs, edit: OrderEdit, projects: ScheduleInput['projects']): PassMemory | undefined {
  if (edit.removed.length > 0 || order.hasGangs) return undefined;
  const limitsOf = projects && projects.size > 0 ? projects : undefined;
  const ahead = m.aheadInQueue.slice();
  // Per queue, where its last job is now: a new one, or its last old job moved on by the new ones ahead of it.
  const lastInQueue = new Int32Array(m.lastInQueue.length).fill(-2);
  const texts = m.texts;
  const textCodes = m.textCodes;
  const codeOf = (reason: string): number => {
    let code = textCodes.get(reason);
    if (code === undefined) {
      code = texts.push(reason) - 1;
      textCodes.set(reason, code);
    }
    return code;
  };
  const newCodes = new Int32Array(edit.added.length);
  for (let k = 0; k < edit.added.length; k++) {
    // The new job goes in ahead of old position p: what the walk would do with it there, from what it knew there.
    const i = edit.added[k];
    const p = edit.addedAt[k];
    const job = order.jobs[i];
    const q = order.queues[i];
    if (m.lastInQueue[q] >= p) return undefined;
    const limits = limitsOf && order.flags[i] & JOB_HAS_PROJECT ? limitsOf.get(job.project!) : undefined;
    if (limits && (m.projectSettledAt.get(job.project!) ?? -1) >= p) return undefined;
    const limited = limits && projectLimitReason(job, limits, m.gpusHeld.get(job.project!) ?? 0);
    let reason: string;
    if (limited) reason = limited;
    else if (m.strictBlockerAt < p) {
      reason = ahead[q] > 0 ? priorityReason(ahead[q], order.queueNames[q]) : `PRIORITY: waiting behind job ${m.strictBlocker!.id} in queue ${m.strictBlocker!.queue}`;
      ahead[q]++;
    } else {
      const shape = order.shapes[i];
      if (shape >= m.shapeCount) return undefined;
      // Not failed there at this timeout or shorter: it would be tried on the workers.
      if (!failedBefore(m.noFitSteps[shape], order.timeouts[i], p)) return undefined;
      if (m.mode === 'backfill' && m.reservationsFullAt >= p && m.noReservationAt[shape] >= p) return undefined;
      const untimed = order.timeouts[i] === Infinity;
      if ((untimed ? m.untimedExplainedAt : m.timedExplainedAt)[shape] >= p) return undefined;
      const explanation = (untimed ? m.untimedExplanations : m.timedExplanations)[shape]!;
      reason = explanation.takenByJobsAhead && ahead[q] > 0 ? priorityReason(ahead[q], order.queueNames[q]) : explanation.text;
      ahead[q]++;
    }
    newCodes[k] = codeOf(reason);
    lastInQueue[q] = i;
  }
  // The new codes put in among the old ones in place, last first, the old ones behind each moved down (as the order was).
  let buffer = m.codesBuffer;
  const size = order.jobs.length;
  if (size > buffer.length) {
    buffer = new Int32Array(size + (size >> 2) + 1024);
    buffer.set(m.codes);
  }
  let end = m.codes.length;
  for (let k = edit.added.length - 1; k >= 0; k--) {
    const at = edit.addedAt[k];
    buffer.copyWithin(edit.added[k] + 1, at, end);
    buffer[edit.added[k]] = newCodes[k];
    end = at;
  }
  const codes = buffer.subarray(0, size);
  // Where an old position went: ahead of it, every new job that went in at or before it.
  const at = (position: number) => {
    if (position < 0 || position === Infinity) return position;
    let lo = 0;
    let hi = edit.addedAt.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edit.addedAt[mid] <= position) lo = mid + 1;
      else hi = mid;
    }
    return position + lo;
  };
  for (let q = 0; q < lastInQueue.length; q++) if (lastInQueue[q] === -2) lastInQueue[q] = at(m.lastInQueue[q]);
  return {
    ...m, order, codes, codesBuffer: buffer, waitingCount: m.waitingCount + edit.added.length, aheadInQueue: ahead, lastInQueue,
    noFitSteps: m.noFitSteps.map((steps) => steps?.map((x, k) => (k % 2 === 0 ? at(x) : x))),
    noReservationAt: m.noReservationAt.map(at), timedExplainedAt: m.timedExplainedAt.map(at), untimedExplainedAt: m.untimedExplainedAt.map(at),
    projectSettledAt: new Map([...m.projectSettledAt].map(([project, position]) => [project, at(position)])),
    reservationsFullAt: at(m.reservationsFullAt), strictBlockerAt: at(m.strictBlockerAt),
  };
}

/** Whether, before old position `p`, a job of the shape failed to fit at `timeout` or a shorter one. */
function failedBefore(steps: number[] | undefined, timeout: number, p: number): boolean {
  if (!steps) return false;
  // Steps go down in timeout as the walk goes on: the first at or below `timeout` is where it became true.
  for (let k = 0; k < steps.length; k += 2) if (timeout >= steps[k + 1]) return steps[k] < p;
  return false;
}

/** Walks every job of the order from the workers' state at the start of the pass. */
function walk(input: ScheduleInput, order: OrderedJobs, shapeCount: number): PassMemory {
  openNowWindow(input.now);
  const mode = input.policy?.mode ?? 'backfill';
  const maxReservations = input.policy?.maxReservations ?? DEFAULT_MAX_RESERVATIONS;
  const states = input.workers.map((w) => new WorkerState(w));
  const byId = new Map(states.map((s) => [s.node.id, s]));
  const schedulable = states.filter((s) => s.node.schedulable);
  const index = new WorkerIndex(schedulable);
  const running = new Map<string, RunningAttempt[]>();
  for (const r of input.running ?? []) {
    const list = running.get(r.workerId);
    if (list) list.push(r);
    else running.set(r.workerId, [r]);
  }

  const placements: Placement[] = [];
  // Where the walk learnt what it knows of each shape and project (see PassMemory).
  const noFitSteps = new Array<number[] | undefined>(shapeCount);
  const noReservationAt = new Float64Array(shapeCount).fill(Infinity);
  const timedExplainedAt = new Float64Array(shapeCount).fill(Infinity);
  const untimedExplainedAt = new Float64Array(shapeCount).fill(Infinity);
  const projectSettledAt = new Map<string, number>();
  let reservationsFullAt = maxReservations > 0 ? Infinity : -1;
  let strictBlockerAt = Infinity;
  // One number per job of the order: the index of its reason among the pass's distinct reasons (-1: placed).
  // Typed, so a million waiting jobs cost the GC nothing to keep.
  const codes = new Int32Array(order.jobs.length).fill(-1);
  const texts: string[] = [];
  const textCodes = new Map<string, number>();
  let lastText: string | undefined;
  let lastCode = -1;
  const waiting = {
    add(position: number, reason: string): void {
      if (reason !== lastText) {
        let code = textCodes.get(reason);
        if (code === undefined) {
          code = texts.push(reason) - 1;
          textCodes.set(reason, code);
        }
        lastText = reason;
        lastCode = code;
      }
      codes[position] = lastCode;
    },
  };
  const queueNames = order.queueNames;
  const reservations: Reservation[] = [];
  // By shape. Capacity only shrinks during a pass, so a shape that found no worker finds none later either;
  // a longer timeout only shuts more reserved workers, so it is recorded as the shortest that failed (NaN: none failed).
  const noFit = new Float64Array(shapeCount).fill(NaN);
  const noReservation = new Uint8Array(shapeCount);
  // Split by whether the job has a timeout: the only way the timeout changes the reason.
  const timedExplanations = new Array<Explanation | undefined>(shapeCount);
  const untimedExplanations = new Array<Explanation | undefined>(shapeCount);
  const aheadInQueue = new Int32Array(queueNames.length);
  const lastInQueue = new Int32Array(queueNames.length).fill(-1);
  // The PRIORITY reason last made per queue: past 100 jobs ahead, thousands of jobs in a row share one.
  const lastAhead = new Float64Array(queueNames.length).fill(-1);
  const lastPriorityText = new Array<string>(queueNames.length);
  const priorityText = (q: number, ahead: number): string => {
    const rounded = roundedAhead(ahead);
    if (lastAhead[q] !== rounded) {
      lastAhead[q] = rounded;
      lastPriorityText[q] = priorityReason(ahead, queueNames[q]);
    }
    return lastPriorityText[q];
  };
  let strictBlocker: RunnableJob | undefined;
  const projects = input.projects && input.projects.size > 0 ? input.projects : undefined;
  // Copied: placements in this pass add to what each project holds.
  const gpusHeld = new Map([...projects ?? []].map(([name, p]) => [name, p.gpusHeld]));
  // The nodes of each multi-node job: a gang is decided once, when its first node comes up in the order.
  const gangs = new Map<string, RunnableJob[]>();
  // Where each node of a gang is in the order: its reason is given when the gang is decided.
  const gangPositions = new Map<string, number>();
  for (let i = 0; order.hasGangs && i < order.jobs.length; i++) if (order.flags[i] & JOB_IN_GANG) gangPositions.set(order.ids[i], i);
  // The nodes of each gang, looked for only when the pass has a gang.
  for (let i = 0; order.hasGangs && i < input.jobs.length; i++) {
    const job = input.jobs[i];
    if (!job.gang) continue;
    const nodes = gangs.get(job.gang.id);
    if (nodes) nodes.push(job);
    else gangs.set(job.gang.id, [job]);
  }
  const place = (job: RunnableJob, target: WorkerState, gpuDevices: number[]) => {
    // Its attempt starts now: estimates made from it move with the clock.
    holdsUntil(input.now);
    index.take(target, job, gpuDevices);
    placements.push({ jobId: job.id, workerId: target.node.id, gpuDevices });
    const attempt: RunningAttempt = {
      jobId: job.id, workerId: target.node.id, startedAt: input.now, timeoutSeconds: job.timeoutSeconds ?? null,
      vcpus: job.resources.vcpus, memoryMiB: job.resources.memoryMiB, gpuIndices: gpuDevices,
    };
    const list = running.get(target.node.id);
    if (list) list.push(attempt);
    else running.set(target.node.id, [attempt]);
  };

  // Where each shape would start soonest, for reservations: estimates change only with a placement (or a new reservation,
  // which rules its worker out), so jobs of one shape reserving one after another share one look at every worker.
  const reservable = new Map<number, { placed: number; candidates: { w: WorkerState; startAt: number }[]; next: number }>();
  const reserveFor = (job: RunnableJob, shape: number): Reservation | undefined => {
    let c = reservable.get(shape);
    if (!c || c.placed !== placements.length) {
      c = { placed: placements.length, candidates: reserveCandidates(job, schedulable, running, input.now), next: 0 };
      reservable.set(shape, c);
    }
    while (c.next < c.candidates.length && c.candidates[c.next].w.reservation) c.next++;
    const best = c.candidates[c.next];
    return best && { jobId: job.id, workerId: best.w.node.id, startAt: best.startAt };
  };

  const { jobs, timeouts, flags, shapes, queues } = order;
  for (let i = 0; i < jobs.length; i++) {
    // What most waiting jobs need is read from the order's arrays; the job object only when it is tried or explained.
    const job = jobs[i];
    const q = queues[i];
    lastInQueue[q] = i;
    if (flags[i] & JOB_IN_GANG) {
      const gang = job.gang!;
      const nodes = gangs.get(gang.id);
      if (!nodes) continue; // decided with its first node
      gangs.delete(gang.id);
      const ahead = aheadInQueue[q];
      const wait = (reason: string) => {
        for (const n of nodes) waiting.add(gangPositions.get(n.id)!, reason);
        aheadInQueue[q] = ahead + 1;
      };
      const size = gang.size;
      const gpus = job.resources.gpus * size;
      const limits = job.project === undefined ? undefined : projects?.get(job.project);
      const limited = limits && projectLimitReason({ ...job, resources: { ...job.resources, gpus } }, limits, gpusHeld.get(job.project!) ?? 0);
      if (limited) {
        for (const n of nodes) waiting.add(gangPositions.get(n.id)!, limited);
        continue;
      }
      if (nodes.length !== size) {
        wait(`GANG: ${nodes.length} of ${size} nodes are runnable; waiting for the others`);
        continue;
      }
      if (strictBlocker) {
        wait(ahead > 0 ? priorityText(q, ahead) : `PRIORITY: waiting behind job ${strictBlocker.id} in queue ${strictBlocker.queue}`);
        continue;
      }
      const never = gangUnschedulable(job, size, schedulable);
      if (never) {
        const anyNode = schedulable.some((w) => w.admits(job) && w.couldEverFit(job));
        wait(anyNode ? never : explain(job, states, undefined).text);
        continue;
      }
      const fit = fitGang(job, size, schedulable, input.now, gang.topologyKey);
      if (fit) {
        const ordered = [...nodes].sort((a, b) => a.gang!.index - b.gang!.index);
        ordered.forEach((node, n) => place(node, fit.workers[n], chooseGpus(fit.workers[n].freeGpusFor(node), node.resources.gpus)));
        if (limits) gpusHeld.set(job.project!, (gpusHeld.get(job.project!) ?? 0) + gpus);
        continue;
      }
      if (mode === 'strict-fifo') strictBlocker = job;
      const reservation = mode === 'backfill' && reservations.length < maxReservations ? reserveGang(job, size, schedulable, running, input.now) : undefined;
      if (reservation) {
        for (const w of reservation.workers) {
          w.reservation = { jobId: job.id, startAt: reservation.startAt };
          reservations.push({ jobId: job.id, workerId: w.node.id, startAt: reservation.startAt });
        }
        wait(gangWaitingReason(job, size, reservation.availableNow, reservation.pool, reservation.startAt));
      } else {
        const available = schedulable.filter((w) => w.admits(job) && w.fitsNow(job)).length;
        wait(gangWaitingReason(job, size, available, undefined, undefined));
      }
      continue;
    }
    const limits = projects && flags[i] & JOB_HAS_PROJECT ? projects.get(job.project!) : undefined;
    const limited = limits && projectLimitReason(job, limits, gpusHeld.get(job.project!) ?? 0);
    if (limited) {
      // Not counted as ahead of anyone: it holds nothing and reserves nothing.
      waiting.add(i, limited);
      continue;
    }
    const ahead = aheadInQueue[q];
    if (strictBlocker) {
      waiting.add(i, ahead > 0 ? priorityText(q, ahead) : `PRIORITY: waiting behind job ${strictBlocker.id} in queue ${strictBlocker.queue}`);
      aheadInQueue[q] = ahead + 1;
      continue;
    }
    const shape = shapes[i];
    const timeout = timeouts[i];
    const failedAt = noFit[shape];
    // NaN (no failure yet) compares false: the job looks for a worker.
    const target = timeout >= failedAt ? undefined : index.preferredFit(job, input.now);
    if (target) {
      place(job, target, chooseGpus(target.freeGpusFor(job), job.resources.gpus));
      if (limits) {
        gpusHeld.set(job.project!, (gpusHeld.get(job.project!) ?? 0) + job.resources.gpus);
        projectSettledAt.set(job.project!, i);
      }
      continue;
    }
    if (!(timeout >= failedAt)) {
      noFit[shape] = Number.isNaN(failedAt) ? timeout : Math.min(timeout, failedAt);
      (noFitSteps[shape] ??= []).push(i, noFit[shape]);
      // A job no worker could ever run must not block the queue behind it for good.
      if (mode === 'strict-fifo' && schedulable.some((w) => w.admits(job) && w.couldEverFit(job))) {
        strictBlocker = job;
        strictBlockerAt = i;
      }
    }

    if (mode === 'backfill' && reservations.length < maxReservations && !noReservation[shape]) {
      const reservation = reserveFor(job, shape);
      // Reservations only take workers away, so this shape finds none later in the pass either.
      if (!reservation) {
        noReservation[shape] = 1;
        noReservationAt[shape] = i;
      }
      if (reservation) {
        reservations.push(reservation);
        if (reservations.length >= maxReservations) reservationsFullAt = i;
        byId.get(reservation.workerId)!.reservation = { jobId: job.id, startAt: reservation.startAt };
        waiting.add(i, `RESERVED: waiting for worker ${reservation.workerId}, estimated start ${formatTime(reservation.startAt)}`);
        aheadInQueue[q] = ahead + 1;
        continue;
      }
    }
    const cache = timeout === Infinity ? untimedExplanations : timedExplanations;
    let explanation = cache[shape];
    if (!explanation) {
      (timeout === Infinity ? untimedExplainedAt : timedExplainedAt)[shape] = i;
      const blocker = schedulable.find((s) => s.reservation && s.admits(job) && s.fitsNow(job));
      explanation = explain(job, states, blocker);
      cache[shape] = explanation;
    }
    waiting.add(i, explanation.takenByJobsAhead && ahead > 0 ? priorityText(q, ahead) : explanation.text);
    aheadInQueue[q] = ahead + 1;
  }
  let waitingCount = 0;
  for (let i = 0; i < codes.length; i++) if (codes[i] >= 0) waitingCount++;
  return {
    order,
    // A pass that placed holds only at this very time (its attempts start now): the next pass will not match it,
    // so the copy of its inputs (milliseconds at 10,000 attempts) is not made.
    inputs: placements.length > 0 ? undefined : new PassInputs(input),
    fairShare: input.policy?.fairShare, now: input.now, until: nowWindowEnd(), placements, reservations,
    codes, codesBuffer: codes, texts, textCodes, waitingCount,
    noFitSteps, noReservationAt, timedExplainedAt, untimedExplainedAt, projectSettledAt, reservationsFullAt, strictBlockerAt,
    mode, shapeCount,
    noFit, noReservation, timedExplanations, untimedExplanations, aheadInQueue, lastInQueue, strictBlocker, gpusHeld,
  };
}

/** QUOTA or BUDGET when the job's project may not start it now. */
function projectLimitReason(job: RunnableJob, limits: ProjectLimits, held: number): string | undefined {
  if (limits.budgetSpent) return budgetReason(job.project!, limits.budgetSpent);
  const gpus = job.resources.gpus;
  if (gpus > 0 && limits.gpuQuota !== null && held + gpus > limits.gpuQuota) return quotaReason(job.project!, held, limits.gpuQuota, gpus);
  return undefined;
}

// Shapes are numbered once per job (when it enters the kept order) and the numbers index the pass's per-shape state.
const MAX_SHAPES = 100_000;
const shared = new Scheduler();

/** Jobs with the same key fit the same workers (timeouts aside, which only matter on reserved workers). */
function shapeKey(job: RunnableJob): string {
  const r = job.resources;
  return `${toMilliCpu(r.vcpus)} ${r.memoryMiB} ${r.gpus} ${r.gpuModel ? r.gpuModel.join('|') : ''} ${job.pools.join(',')} ${job.labelSelector ? JSON.stringify(job.labelSelector) : ''}`;
}

/** The count priorityReason shows: exact below 100, else two significant digits. */
function roundedAhead(ahead: number): number {
  if (ahead < 100) return ahead;
  const unit = 10 ** (Math.floor(Math.log10(ahead)) - 1);
  return Math.round(ahead / unit) * unit;
}

/**
 * The unreserved workers where the job could start, soonest first (ties in
 * worker order), judged from the running attempts' start plus timeout.
 * Attempts without a timeout never count as ending.
 */
function reserveCandidates(job: RunnableJob, workers: WorkerState[], running: Map<string, RunningAttempt[]>, now: number): { w: WorkerState; startAt: number }[] {
  const candidates: { w: WorkerState; startAt: number }[] = [];
  for (const w of workers) {
    if (w.reservation || !w.admits(job) || !w.couldEverFit(job)) continue;
    const startAt = estimatedStart(job, w, running.get(w.node.id) ?? [], now);
    if (startAt !== undefined) candidates.push({ w, startAt });
  }
  return candidates.sort((a, b) => a.startAt - b.startAt);
}
