// The scheduling pass as it was before it kept its order between passes, indexed its workers and
// shared work per shape (commit e507633), kept here only as the oracle the fast pass is compared with.
import fc from 'fast-check';
import { parseGpuModel } from '../gpu-model.js';
import { parseLabelSelector } from '../labels.js';
import { toMilliCpu } from '../resources.js';
import { endsBefore, estimatedStart } from './estimates.js';
import { fitGang, gangUnschedulable, gangWaitingReason, reserveGang } from './gang.js';
import { chooseGpus } from './gpu-choice.js';
import { budgetReason, explain, formatTime, priorityReason, quotaReason, waitingReason, type Explanation } from './reasons.js';
import { schedule, Scheduler, type PassKind } from './schedule.js';
import type { GpuSlot, Placement, ProjectLimits, Reservation, RunnableJob, RunningAttempt, ScheduleInput, SchedulingPolicy, WorkerNode } from './types.js';
import { WorkerState } from './worker-state.js';


// A job without a timeout is charged an hour of its GPUs when fair share interleaves projects.
const NOMINAL_RUN_SECONDS = 3600;

/** Inside a queue: job priority (higher first), then submit time, then id. */
function compareInQueue(a: RunnableJob, b: RunnableJob): number {
  return b.priority - a.priority || a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The order in which the core considers jobs: queue priority (higher first);
 * inside a queue FIFO by job priority and submit time, or for FAIR_SHARE
 * queues interleaved across projects by decayed usage over weight (Slurm's
 * fair share); queues of equal priority merged by their next job.
 */
function referenceOrderJobs(jobs: readonly RunnableJob[], fairShare?: SchedulingPolicy['fairShare']): RunnableJob[] {
  const byQueue = new Map<string, RunnableJob[]>();
  for (const job of jobs) {
    const list = byQueue.get(job.queue);
    if (list) list.push(job);
    else byQueue.set(job.queue, [job]);
  }
  const streams = [...byQueue.values()].map((list) => {
    list.sort(compareInQueue);
    return list[0].fairShare ? fairShareOrder(list, fairShare) : list;
  });
  streams.sort((a, b) => b[0].queuePriority - a[0].queuePriority);

  const ordered: RunnableJob[] = [];
  for (let i = 0; i < streams.length; ) {
    let j = i;
    while (j < streams.length && streams[j].length && streams[j][0].queuePriority === streams[i][0].queuePriority) j++;
    mergeInto(ordered, streams.slice(i, j));
    i = j;
  }
  return ordered;
}

/** k-way merge of same-priority queues, each already in its own order. */
function mergeInto(out: RunnableJob[], streams: RunnableJob[][]): void {
  if (streams.length === 1) {
    for (const job of streams[0]) out.push(job);
    return;
  }
  const heads = streams.map(() => 0);
  for (;;) {
    let pick = -1;
    for (let s = 0; s < streams.length; s++) {
      if (heads[s] >= streams[s].length) continue;
      if (pick < 0 || compareInQueue(streams[s][heads[s]], streams[pick][heads[pick]]) < 0) pick = s;
    }
    if (pick < 0) return;
    out.push(streams[pick][heads[pick]++]);
  }
}

/** Repeatedly takes the next job of the project with the least (usage + already ordered) / weight. */
function fairShareOrder(jobs: RunnableJob[], fairShare: SchedulingPolicy['fairShare']): RunnableJob[] {
  const byProject = new Map<string, RunnableJob[]>();
  for (const job of jobs) {
    const project = job.project ?? 'default';
    const list = byProject.get(project);
    if (list) list.push(job);
    else byProject.set(project, [job]);
  }
  const projects = [...byProject.entries()].map(([name, list]) => ({
    name, list, next: 0,
    charged: fairShare?.usage.get(name) ?? 0,
    weight: Math.max(fairShare?.weights?.get(name) ?? 1, 1e-9),
  }));
  const ordered: RunnableJob[] = [];
  while (ordered.length < jobs.length) {
    let pick: (typeof projects)[number] | undefined;
    for (const p of projects) {
      if (p.next >= p.list.length) continue;
      if (!pick || p.charged / p.weight < pick.charged / pick.weight || (p.charged / p.weight === pick.charged / pick.weight && p.name < pick.name)) pick = p;
    }
    const job = pick!.list[pick!.next++];
    ordered.push(job);
    // Charge what the job is expected to use, so one pass does not hand everything to one project.
    pick!.charged += Math.max(job.resources.gpus, 0.001) * (job.timeoutSeconds ?? NOMINAL_RUN_SECONDS);
  }
  return ordered;
}

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
 */
function referenceSchedule(input: ScheduleInput): { placements: Placement[]; waiting: Map<string, string>; reservations: Reservation[] } {
  const mode = input.policy?.mode ?? 'backfill';
  const maxReservations = input.policy?.maxReservations ?? DEFAULT_MAX_RESERVATIONS;
  const states = input.workers.map((w) => new WorkerState(w));
  const byId = new Map(states.map((s) => [s.node.id, s]));
  const schedulable = states.filter((s) => s.node.schedulable);
  const buckets = new GpuBuckets(schedulable);
  const running = new Map<string, RunningAttempt[]>();
  for (const r of input.running ?? []) {
    const list = running.get(r.workerId);
    if (list) list.push(r);
    else running.set(r.workerId, [r]);
  }

  const placements: Placement[] = [];
  const waiting = new Map<string, string>();
  const reservations: Reservation[] = [];
  // Capacity only shrinks during a pass, so a shape that found no worker finds none later either;
  // a longer timeout only shuts more reserved workers, so it is recorded as the shortest that failed.
  const noFit = new Map<string, number>();
  const noReservation = new Set<string>();
  const aheadInQueue = new Map<string, number>();
  // Keyed by shape, split by whether the job has a timeout: the only way the timeout changes the reason.
  const explanations = { timed: new Map<string, Explanation>(), untimed: new Map<string, Explanation>() };
  let strictBlocker: RunnableJob | undefined;
  // Copied: placements in this pass add to what each project holds.
  const gpusHeld = new Map([...input.projects ?? []].map(([name, p]) => [name, p.gpusHeld]));
  // The nodes of each multi-node job: a gang is decided once, when its first node comes up in the order.
  const gangs = new Map<string, RunnableJob[]>();
  for (const job of input.jobs) {
    if (!job.gang) continue;
    const nodes = gangs.get(job.gang.id);
    if (nodes) nodes.push(job);
    else gangs.set(job.gang.id, [job]);
  }
  const place = (job: RunnableJob, target: WorkerState, gpuDevices: number[]) => {
    buckets.take(target, job, gpuDevices);
    placements.push({ jobId: job.id, workerId: target.node.id, gpuDevices });
    const attempt: RunningAttempt = {
      jobId: job.id, workerId: target.node.id, startedAt: input.now, timeoutSeconds: job.timeoutSeconds ?? null,
      vcpus: job.resources.vcpus, memoryMiB: job.resources.memoryMiB, gpuIndices: gpuDevices,
    };
    const list = running.get(target.node.id);
    if (list) list.push(attempt);
    else running.set(target.node.id, [attempt]);
  };

  for (const job of referenceOrderJobs(input.jobs, input.policy?.fairShare)) {
    if (job.gang) {
      const nodes = gangs.get(job.gang.id);
      if (!nodes) continue; // decided with its first node
      gangs.delete(job.gang.id);
      const ahead = aheadInQueue.get(job.queue) ?? 0;
      const wait = (reason: string) => {
        for (const n of nodes) waiting.set(n.id, reason);
        aheadInQueue.set(job.queue, ahead + 1);
      };
      const size = job.gang.size;
      const gpus = job.resources.gpus * size;
      const limits = job.project === undefined ? undefined : input.projects?.get(job.project);
      const limited = limits && projectLimitReason({ ...job, resources: { ...job.resources, gpus } }, limits, gpusHeld.get(job.project!) ?? 0);
      if (limited) {
        for (const n of nodes) waiting.set(n.id, limited);
        continue;
      }
      if (nodes.length !== size) {
        wait(`GANG: ${nodes.length} of ${size} nodes are runnable; waiting for the others`);
        continue;
      }
      if (strictBlocker) {
        wait(ahead > 0 ? priorityReason(ahead, job.queue) : `PRIORITY: waiting behind job ${strictBlocker.id} in queue ${strictBlocker.queue}`);
        continue;
      }
      const never = gangUnschedulable(job, size, schedulable);
      if (never) {
        const anyNode = schedulable.some((w) => w.admits(job) && w.couldEverFit(job));
        wait(anyNode ? never : explain(job, states, undefined).text);
        continue;
      }
      const fit = fitGang(job, size, schedulable, input.now, job.gang.topologyKey);
      if (fit) {
        const ordered = [...nodes].sort((a, b) => a.gang!.index - b.gang!.index);
        ordered.forEach((node, i) => place(node, fit.workers[i], chooseGpus(fit.workers[i].freeGpusFor(node), node.resources.gpus)));
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
    const limits = job.project === undefined ? undefined : input.projects?.get(job.project);
    const limited = limits && projectLimitReason(job, limits, gpusHeld.get(job.project!) ?? 0);
    if (limited) {
      // Not counted as ahead of anyone: it holds nothing and reserves nothing.
      waiting.set(job.id, limited);
      continue;
    }
    const ahead = aheadInQueue.get(job.queue) ?? 0;
    if (strictBlocker) {
      waiting.set(job.id, ahead > 0 ? priorityReason(ahead, job.queue) : `PRIORITY: waiting behind job ${strictBlocker.id} in queue ${strictBlocker.queue}`);
      aheadInQueue.set(job.queue, ahead + 1);
      continue;
    }
    const key = shapeKey(job);
    const timeout = job.timeoutSeconds ?? Infinity;
    const failedAt = noFit.get(key);
    const target = failedAt !== undefined && timeout >= failedAt ? undefined : buckets.preferredFit(job, input.now);
    if (target) {
      place(job, target, chooseGpus(target.freeGpusFor(job), job.resources.gpus));
      if (limits) gpusHeld.set(job.project!, (gpusHeld.get(job.project!) ?? 0) + job.resources.gpus);
      continue;
    }
    noFit.set(key, Math.min(timeout, noFit.get(key) ?? Infinity));
    // A job no worker could ever run must not block the queue behind it for good.
    if (mode === 'strict-fifo' && schedulable.some((w) => w.admits(job) && w.couldEverFit(job))) strictBlocker = job;

    if (mode === 'backfill' && reservations.length < maxReservations && !noReservation.has(key)) {
      const reservation = reserve(job, schedulable, running, input.now);
      // Reservations only take workers away, so this shape finds none later in the pass either.
      if (!reservation) noReservation.add(key);
      if (reservation) {
        reservations.push(reservation);
        byId.get(reservation.workerId)!.reservation = { jobId: job.id, startAt: reservation.startAt };
        waiting.set(job.id, `RESERVED: waiting for worker ${reservation.workerId}, estimated start ${formatTime(reservation.startAt)}`);
        aheadInQueue.set(job.queue, ahead + 1);
        continue;
      }
    }
    const cache = timeout === Infinity ? explanations.untimed : explanations.timed;
    let explanation = cache.get(key);
    if (!explanation) {
      const blocker = schedulable.find((s) => s.reservation && s.admits(job) && s.fitsNow(job));
      explanation = explain(job, states, blocker);
      cache.set(key, explanation);
    }
    waiting.set(job.id, waitingReason(job, explanation, ahead));
    aheadInQueue.set(job.queue, ahead + 1);
  }
  return { placements, waiting, reservations };
}

/** QUOTA or BUDGET when the job's project may not start it now. */
function projectLimitReason(job: RunnableJob, limits: ProjectLimits, held: number): string | undefined {
  if (limits.budgetSpent) return budgetReason(job.project!, limits.budgetSpent);
  const gpus = job.resources.gpus;
  if (gpus > 0 && limits.gpuQuota !== null && held + gpus > limits.gpuQuota) return quotaReason(job.project!, held, limits.gpuQuota, gpus);
  return undefined;
}

const referenceShapeKeys = new WeakMap<RunnableJob, string>();

/** Jobs with the same key fit the same workers (timeouts aside, which only matter on reserved workers). */
function shapeKey(job: RunnableJob): string {
  let key = referenceShapeKeys.get(job);
  if (key === undefined) {
    key = computeShapeKey(job);
    referenceShapeKeys.set(job, key);
  }
  return key;
}

function computeShapeKey(job: RunnableJob): string {
  const r = job.resources;
  return [
    toMilliCpu(r.vcpus), r.memoryMiB, r.gpus, r.gpuModel?.join('|') ?? '', job.pools.join(','),
    job.labelSelector ? JSON.stringify(job.labelSelector) : '',
  ].join(' ');
}

/**
 * Where the job will fit soonest, judged from the running attempts' start
 * plus timeout. Attempts without a timeout never count as ending.
 */
function reserve(job: RunnableJob, workers: WorkerState[], running: Map<string, RunningAttempt[]>, now: number): Reservation | undefined {
  let best: Reservation | undefined;
  for (const w of workers) {
    if (w.reservation || !w.admits(job) || !w.couldEverFit(job)) continue;
    const startAt = estimatedStart(job, w, running.get(w.node.id) ?? [], now);
    if (startAt !== undefined && (!best || startAt < best.startAt)) best = { jobId: job.id, workerId: w.node.id, startAt };
  }
  return best;
}

/** Schedulable workers bucketed by free GPU count, for best fit without scanning every worker. */
class GpuBuckets {
  private readonly buckets: Set<WorkerState>[] = [];

  constructor(workers: WorkerState[]) {
    for (const w of workers) this.bucket(w.free.length).add(w);
  }

  private bucket(n: number): Set<WorkerState> {
    while (this.buckets.length <= n) this.buckets.push(new Set());
    return this.buckets[n];
  }

  /** The best fit in the first of the job's pools (in its order of preference) that has one. */
  preferredFit(job: RunnableJob, now: number): WorkerState | undefined {
    if (job.pools.length <= 1) return this.bestFit(job, now);
    for (const pool of job.pools) {
      const w = this.bestFit(job, now, pool);
      if (w) return w;
    }
    return undefined;
  }

  /** The first worker in the lowest bucket that fits and respects reservations (in `pool`, when given). */
  private bestFit(job: RunnableJob, now: number, pool?: string): WorkerState | undefined {
    for (let n = job.resources.gpus; n < this.buckets.length; n++) {
      for (const w of this.buckets[n]) {
        if ((pool !== undefined && w.node.pool !== pool) || !w.fitsNow(job) || !w.admits(job)) continue;
        if (w.reservation && !endsBefore(job, now, w.reservation.startAt)) continue;
        return w;
      }
    }
    return undefined;
  }

  take(w: WorkerState, job: RunnableJob, gpuDevices: number[]): void {
    this.buckets[w.free.length].delete(w);
    w.take(job, gpuDevices);
    this.bucket(w.free.length).add(w);
  }
}


// ---------------------------------------------------------------------------------------------
// The properties: the pass gives exactly what the reference gives, placements, reservations and
// every job's reason, over random clusters, queues, projects, gangs and policies,
// and over several passes in a row where the jobs are kept, dropped, added and reshuffled (the
// kept order and the shape numbering are then reused and updated between passes).

const NOW = Date.parse('2026-12-02T12:00:00Z');
const MODELS = ['A100', 'H100', 'NVIDIA T4'];
// q0 and q1 share a priority (merged by their jobs); q2 orders by fair share.
const QUEUES: Record<string, { priority: number; fairShare: boolean }> = {
  q0: { priority: 1, fairShare: false }, q1: { priority: 1, fairShare: false }, q2: { priority: 0, fairShare: true }, q3: { priority: 2, fairShare: false },
};

const workerArb = fc.record({
  vcpus: fc.integer({ min: 1, max: 64 }), memoryMiB: fc.integer({ min: 1024, max: 65536 }),
  gpus: fc.integer({ min: 0, max: 8 }), model: fc.integer({ min: 0, max: 2 }), mixed: fc.boolean(), nvlink: fc.boolean(),
  pool: fc.constantFrom('a', 'b', 'c'), zone: fc.constantFrom('x', 'y'), schedulable: fc.boolean(),
  used: fc.integer({ min: 0, max: 8 }), usedCpu: fc.integer({ min: 0, max: 8 }),
  timeout: fc.constantFrom(null, 60, 600, 3600), startedAgo: fc.integer({ min: 0, max: 3_600_000 }),
});
const jobArb = fc.record({
  queue: fc.constantFrom('q0', 'q1', 'q2', 'q3'), project: fc.constantFrom(undefined, 'p1', 'p2', 'p3'),
  priority: fc.integer({ min: 0, max: 2 }), submitted: fc.integer({ min: 0, max: 20 }),
  vcpus: fc.integer({ min: 1, max: 16_000 }).map((m) => m / 1000), memoryMiB: fc.integer({ min: 1, max: 32768 }),
  gpus: fc.integer({ min: 0, max: 9 }), model: fc.constantFrom(undefined, 'A100', 'H100|A100', 'T4'),
  pools: fc.constantFrom([], ['a'], ['b', 'a'], ['c']), selector: fc.constantFrom(undefined, 'zone=x', 'zone!=x'),
  timeout: fc.constantFrom(null, 60, 600, 3600, 7200), gang: fc.constantFrom(0, 0, 0, 2, 3), gangMissing: fc.boolean(),
});
const projectArb = fc.record({ quota: fc.constantFrom(null, 0, 4, 16), held: fc.integer({ min: 0, max: 8 }), broke: fc.boolean() });
const policyArb = fc.record({
  mode: fc.constantFrom('backfill' as const, 'strict-fifo' as const), maxReservations: fc.constantFrom(undefined, 1, 3),
  usage: fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 3, maxLength: 3 }), weight: fc.constantFrom(1, 2, 0.5),
});
type WorkerSpec = typeof workerArb extends fc.Arbitrary<infer T> ? T : never;
type JobSpec = typeof jobArb extends fc.Arbitrary<infer T> ? T : never;
type ProjectSpec = typeof projectArb extends fc.Arbitrary<infer T> ? T : never;
type PolicySpec = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;

function buildWorkers(ws: WorkerSpec[]): { workers: WorkerNode[]; running: RunningAttempt[] } {
  const running: RunningAttempt[] = [];
  const workers = ws.map((w, i): WorkerNode => {
    const slots: GpuSlot[] = Array.from({ length: w.gpus }, (_, index) => ({
      index, model: MODELS[w.mixed && index % 2 ? (w.model + 1) % 3 : w.model], ...(w.nvlink ? { nvlinkGroup: index < 4 ? 0 : 1 } : {}),
    }));
    const used = Array.from({ length: Math.min(w.used, w.gpus) }, (_, g) => g);
    const usedCpu = Math.min(w.usedCpu, w.vcpus);
    if (used.length || usedCpu) {
      running.push({ jobId: `r${i}`, workerId: `w${i}`, startedAt: NOW - w.startedAgo, timeoutSeconds: w.timeout, vcpus: usedCpu, memoryMiB: 512, gpuIndices: used });
    }
    return {
      id: `w${i}`, pool: w.pool, schedulable: w.schedulable, labels: { zone: w.zone },
      capacity: { vcpus: w.vcpus, memoryMiB: w.memoryMiB, gpus: slots },
      allocated: { vcpus: usedCpu, memoryMiB: used.length || usedCpu ? 512 : 0, gpuIndices: used },
    };
  });
  return { workers, running };
}

function buildJobs(js: JobSpec[], prefix: string): RunnableJob[] {
  return js.flatMap((j, i): RunnableJob[] => {
    const base: RunnableJob = {
      id: `${prefix}${i}`, queue: j.queue, queuePriority: QUEUES[j.queue].priority, fairShare: QUEUES[j.queue].fairShare,
      priority: j.priority, submittedAt: NOW - 100 + j.submitted, project: j.project, pools: j.pools,
      labelSelector: j.selector ? parseLabelSelector(j.selector) : undefined, timeoutSeconds: j.timeout,
      resources: { vcpus: j.vcpus, memoryMiB: j.memoryMiB, gpus: j.gpus, gpuModel: j.model ? parseGpuModel(j.model) : undefined },
    };
    if (!j.gang) return [base];
    const nodes = j.gangMissing ? j.gang - 1 : j.gang;
    return Array.from({ length: nodes }, (_, index) => ({
      ...base, id: index === 0 ? base.id : `${base.id}:node${index}`, gang: { id: base.id, index, size: j.gang },
    }));
  });
}

function buildInput(workers: WorkerNode[], running: RunningAttempt[], jobs: RunnableJob[], ps: ProjectSpec[], policy: PolicySpec): ScheduleInput {
  const projects = new Map<string, ProjectLimits>(ps.map((p, i) => [`p${i + 1}`, {
    gpuQuota: p.quota, gpusHeld: p.held,
    ...(p.broke ? { budgetSpent: { spent: '120.00', budget: '100.00', currency: 'USD', month: '2026-12' } } : {}),
  }]));
  const fairShare = { usage: new Map(policy.usage.map((u, i) => [`p${i + 1}`, u])), weights: new Map([['p2', policy.weight]]) };
  return { now: NOW, workers, jobs, running, projects, policy: { mode: policy.mode, maxReservations: policy.maxReservations, fairShare } };
}

function expectSameAsReference(input: ScheduleInput, fast = schedule(input)): void {
  const reference = referenceSchedule(input);
  expect(fast.placements).toEqual(reference.placements);
  expect(fast.reservations).toEqual(reference.reservations);
  // Gang nodes are listed where they stand in the order, not when their gang was decided: compare as sets.
  const byId = (a: [string, string], b: [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  expect([...fast.waiting].sort(byId)).toEqual([...reference.waiting].sort(byId));
  expect(fast.waiting.size).toBe(reference.waiting.size);
  for (const [id, reason] of reference.waiting) expect(fast.waiting.get(id)).toBe(reason);
}

describe('schedule against the reference pass (properties)', () => {
  it('decides exactly as the reference in one pass', () => {
    fc.assert(fc.property(
      fc.array(workerArb, { maxLength: 8 }), fc.array(jobArb, { maxLength: 50 }), fc.array(projectArb, { minLength: 3, maxLength: 3 }), policyArb,
      (ws, js, ps, policy) => {
        const { workers, running } = buildWorkers(ws);
        expectSameAsReference(buildInput(workers, running, buildJobs(js, 'j'), ps, policy));
      },
    ), { numRuns: 400 });
  });

  it('decides exactly as the reference over passes that keep, drop, add and reshuffle jobs', () => {
    fc.assert(fc.property(
      fc.array(workerArb, { minLength: 1, maxLength: 6 }), fc.array(jobArb, { maxLength: 40 }), fc.array(projectArb, { minLength: 3, maxLength: 3 }), policyArb,
      fc.array(fc.record({ added: fc.array(jobArb, { maxLength: 8 }), drop: fc.array(fc.boolean(), { maxLength: 60 }), shuffle: fc.boolean(), samePolicy: fc.boolean() }), { minLength: 1, maxLength: 4 }),
      (ws, js, ps, policy, passes) => {
        const { workers, running } = buildWorkers(ws);
        let jobs = buildJobs(js, 'j');
        let input = buildInput(workers, running, jobs, ps, policy);
        expectSameAsReference(input);
        expectSameAsReference(input); // nothing changed: the kept order is reused as it is
        passes.forEach((p, n) => {
          const placed = new Set(schedule(input).placements.map((x) => x.jobId));
          jobs = jobs.filter((j, i) => !placed.has(j.id) && !p.drop[i]);
          jobs = [...jobs, ...buildJobs(p.added, `n${n}-`)];
          if (p.shuffle) jobs = [...jobs].reverse();
          input = p.samePolicy ? { ...input, jobs } : buildInput(workers, running, jobs, ps, policy);
          expectSameAsReference(input);
        });
      },
    ), { numRuns: 200 });
  });

  it('decides exactly as the reference on a larger cluster with many jobs of few shapes', () => {
    const { workers, running } = buildWorkers(Array.from({ length: 60 }, (_, i) => ({
      vcpus: 64, memoryMiB: 65536, gpus: 8, model: i % 3, mixed: i % 7 === 0, nvlink: i % 2 === 0, pool: i % 5 ? 'a' : 'b', zone: i % 2 ? 'x' : 'y',
      schedulable: i % 11 !== 0, used: i % 9, usedCpu: i % 4, timeout: i % 6 ? 600 * (1 + (i % 4)) : null, startedAgo: 1000 * i,
    }) as unknown as WorkerSpec));
    const specs = Array.from({ length: 3000 }, (_, i) => ({
      queue: ['q0', 'q1', 'q2', 'q3'][i % 4], project: [undefined, 'p1', 'p2', 'p3'][i % 4 === 2 ? 1 + (i % 3) : i % 4], priority: i % 3, submitted: i % 17,
      vcpus: 1 + (i % 3), memoryMiB: 4096, gpus: [0, 1, 1, 1, 2, 4, 8][i % 7], model: [undefined, undefined, 'H100|A100', 'T4'][i % 4],
      pools: [[], ['a'], ['b', 'a']][i % 3], selector: i % 13 ? undefined : 'zone=x', timeout: [null, 600, 3600, 60][i % 4], gang: i % 97 ? 0 : 2, gangMissing: false,
    }) as unknown as JobSpec);
    const ps = [{ quota: 40, held: 0, broke: false }, { quota: null, held: 0, broke: false }, { quota: 8, held: 4, broke: false }] as unknown as ProjectSpec[];
    let jobs = buildJobs(specs, 'j');
    let input = buildInput(workers, running, jobs, ps, { mode: 'backfill', maxReservations: undefined, usage: [10, 20000, 5], weight: 2 });
    for (let pass = 0; pass < 3; pass++) {
      expectSameAsReference(input);
      const placed = new Set(schedule(input).placements.map((x) => x.jobId));
      jobs = jobs.filter((j) => !placed.has(j.id));
      input = { ...input, jobs };
    }
  });
});

// The incremental pass: a Scheduler kept across passes (reusing the last outcome, or taking on only the new jobs)
// against a fresh one walking every job, and against the reference, over random sequences of changes.
const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('same' as const) }),
  fc.record({ kind: fc.constant('clock' as const), seconds: fc.constantFrom(0, 1, 30, 600, 5000) }),
  fc.record({ kind: fc.constant('add' as const), jobs: fc.array(jobArb, { minLength: 1, maxLength: 4 }) }),
  // Most new jobs are like jobs already waiting (an array, a sweep, the same definition again).
  fc.record({ kind: fc.constant('addLike' as const), at: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('free' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('apply' as const) }),
  fc.record({ kind: fc.constant('limits' as const), project: fc.constantFrom('p1', 'p2', 'p3'), held: fc.integer({ min: 0, max: 8 }) }),
  // A job's priority changes: a new object of the same id, where the old one was in the input (as a Map's set keeps it).
  fc.record({ kind: fc.constant('priority' as const), at: fc.nat(), priority: fc.integer({ min: 0, max: 3 }) }),
  // New jobs ahead of waiting ones: a higher priority, or an earlier submit time.
  fc.record({ kind: fc.constant('addAhead' as const), jobs: fc.array(jobArb, { minLength: 1, maxLength: 3 }) }),
  // Several at once, as between two passes of a busy scheduler: some leave, some come.
  fc.record({ kind: fc.constant('churn' as const), drop: fc.array(fc.nat(), { maxLength: 3 }), at: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('fairShare' as const), project: fc.constantFrom('p1', 'p2', 'p3'), usage: fc.integer({ min: 0, max: 100_000 }) }),
  fc.record({ kind: fc.constant('shuffle' as const) }),
);

describe('incremental passes (properties)', () => {
  it('give exactly what a pass from scratch gives, over random sequences of changes', () => {
    const kinds: Record<PassKind, number> = { full: 0, unchanged: 0, 'new-jobs': 0 };
    let edited = 0;
    fc.assert(fc.property(
      // Few reservations, so that they run out as they do behind a long queue: only then are new jobs taken on alone.
      fc.array(workerArb, { minLength: 1, maxLength: 6 }), fc.array(jobArb, { maxLength: 40 }), fc.array(projectArb, { minLength: 3, maxLength: 3 }),
      policyArb.chain((p) => fc.constantFrom(1, 3).map((maxReservations) => ({ ...p, maxReservations }))),
      fc.array(stepArb, { minLength: 1, maxLength: 12 }), fc.boolean(), fc.boolean(),
      (ws, js, ps, policy, steps, singlesOnly, ownPriorities) => {
        // Half the sequences give every queue a priority of its own, FIFO: the kept order then grows in place.
        const queued = (jobs: RunnableJob[]) => !ownPriorities ? jobs : jobs.map((j) => ({ ...j, queuePriority: Number(j.queue.slice(1)), fairShare: false }));
        const kept = new Scheduler();
        const built = buildWorkers(ws);
        // A pass with multi-node jobs is always walked in full: half the sequences have none.
        let input = buildInput(built.workers, built.running, queued(buildJobs(singlesOnly ? js.map((j) => ({ ...j, gang: 0 })) : js, 'j')), ps, policy);
        let last = kept.schedule(input);
        expectSameAsReference(input, last);
        steps.forEach((step, n) => {
          // Read now: the next pass may edit the order the last result reads.
          const previous = new Map(last.waiting);
          if (step.kind === 'clock') input = { ...input, now: input.now + step.seconds * 1000 };
          else if (step.kind === 'add') {
            // Submitted after every job so far, as new jobs are.
            const added = queued(buildJobs(singlesOnly ? step.jobs.map((j) => ({ ...j, gang: 0 })) : step.jobs, `n${n}-`)).map((j) => ({ ...j, submittedAt: input.now + n }));
            input = { ...input, jobs: [...input.jobs, ...added] };
          } else if (step.kind === 'addLike' && input.jobs.length) {
            const singles = input.jobs.filter((j) => !j.gang);
            const added = singles.length ? step.at.map((k, i) => ({ ...singles[k % singles.length], id: `n${n}-${i}`, submittedAt: input.now + n })) : [];
            input = { ...input, jobs: [...input.jobs, ...added] };
          } else if (step.kind === 'drop' && input.jobs.length) {
            const gone = input.jobs[step.at % input.jobs.length];
            input = { ...input, jobs: input.jobs.filter((j) => j !== gone && j.gang?.id !== gone.id) };
          } else if (step.kind === 'free' && input.running?.length) {
            const ended = input.running[step.at % input.running.length];
            input = {
              ...input, running: input.running.filter((r) => r !== ended),
              workers: input.workers.map((w) => w.id !== ended.workerId ? w : {
                ...w, allocated: {
                  vcpus: w.allocated.vcpus - ended.vcpus, memoryMiB: w.allocated.memoryMiB - ended.memoryMiB,
                  gpuIndices: w.allocated.gpuIndices.filter((g) => !ended.gpuIndices.includes(g)),
                },
              }),
            };
          } else if (step.kind === 'apply') {
            // The scheduler commits the last pass's placements: the jobs leave, their attempts hold their workers.
            const byId = new Map(input.jobs.map((j) => [j.id, j]));
            const attempts = last.placements.filter((p) => byId.has(p.jobId)).map((p): RunningAttempt => {
              const j = byId.get(p.jobId)!;
              return { jobId: p.jobId, workerId: p.workerId, startedAt: input.now, timeoutSeconds: j.timeoutSeconds ?? null, vcpus: j.resources.vcpus, memoryMiB: j.resources.memoryMiB, gpuIndices: p.gpuDevices };
            });
            const placed = new Set(attempts.map((a) => a.jobId));
            input = {
              ...input, jobs: input.jobs.filter((j) => !placed.has(j.id)), running: [...input.running ?? [], ...attempts],
              workers: input.workers.map((w) => {
                const mine = attempts.filter((a) => a.workerId === w.id);
                if (!mine.length) return w;
                return { ...w, allocated: {
                  vcpus: w.allocated.vcpus + mine.reduce((x, a) => x + a.vcpus, 0), memoryMiB: w.allocated.memoryMiB + mine.reduce((x, a) => x + a.memoryMiB, 0),
                  gpuIndices: [...w.allocated.gpuIndices, ...mine.flatMap((a) => a.gpuIndices)],
                } };
              }),
            };
          } else if (step.kind === 'priority' && input.jobs.length) {
            const k = step.at % input.jobs.length;
            const old = input.jobs[k];
            if (!old.gang) input = { ...input, jobs: input.jobs.map((j, i) => (i === k ? { ...old, priority: step.priority } : j)) };
          } else if (step.kind === 'addAhead') {
            const added = queued(buildJobs(singlesOnly ? step.jobs.map((j) => ({ ...j, gang: 0 })) : step.jobs, `a${n}-`))
              .map((j, i) => ({ ...j, priority: 3, submittedAt: i % 2 ? NOW - 1000 : j.submittedAt }));
            input = { ...input, jobs: [...input.jobs, ...added] };
          } else if (step.kind === 'churn' && input.jobs.length) {
            const gone = new Set(step.drop.map((k) => input.jobs[k % input.jobs.length]).filter((j) => !j.gang));
            const singles = input.jobs.filter((j) => !j.gang);
            const added = singles.length ? step.at.map((k, i) => ({ ...singles[k % singles.length], id: `c${n}-${i}`, submittedAt: input.now + n })) : [];
            input = { ...input, jobs: [...input.jobs.filter((j) => !gone.has(j)), ...added] };
          } else if (step.kind === 'fairShare') {
            const usage = new Map(input.policy!.fairShare!.usage);
            usage.set(step.project, step.usage);
            input = { ...input, policy: { ...input.policy, fairShare: { ...input.policy!.fairShare!, usage } } };
          } else if (step.kind === 'shuffle') {
            input = { ...input, jobs: [...input.jobs].reverse() };
          } else if (step.kind === 'limits') {
            const projects = new Map(input.projects);
            const p = projects.get(step.project)!;
            projects.set(step.project, { ...p, gpusHeld: step.held });
            input = { ...input, projects };
          }
          last = kept.schedule(input);
          kinds[kept.lastPassKind]++;
          if (kept.lastOrderEdited) edited++;
          if (kept.lastDecided) {
            // A pass not walked in full says which jobs it decided: every other one keeps the reason it had.
            const decided = new Map(kept.lastDecided);
            for (const [id, reason] of new Map(last.waiting)) expect(reason).toBe(decided.get(id) ?? previous.get(id));
          }
          const scratch = new Scheduler().schedule(input);
          expect(last.placements).toEqual(scratch.placements);
          expect(last.reservations).toEqual(scratch.reservations);
          expect(new Map(last.waiting)).toEqual(new Map(scratch.waiting));
          expect(last.waiting.size).toBe(scratch.waiting.size);
          expectSameAsReference(input, last);
        });
      },
    ), { numRuns: Number(process.env.GPUBATCH_PROPERTY_RUNS ?? 300) });
    // The sequences did reach both shortcuts, not only full walks.
    expect(kinds.unchanged).toBeGreaterThan(50);
    expect(kinds['new-jobs']).toBeGreaterThan(20);
    // And the kept order was edited in place, not only built again.
    expect(edited).toBeGreaterThan(100);
  });

  it('refuses to read an earlier result once a later pass has edited the order it reads', () => {
    const { workers, running } = buildWorkers([{ vcpus: 8, memoryMiB: 8192, gpus: 1, model: 0, mixed: false, nvlink: false, pool: 'a', zone: 'x', schedulable: true, used: 1, usedCpu: 1, timeout: 600, startedAgo: 0 }]);
    const job = (id: string, submittedAt: number): RunnableJob => ({
      id, queue: 'q0', queuePriority: 1, priority: 0, submittedAt, pools: [], timeoutSeconds: 3600, resources: { vcpus: 1, memoryMiB: 512, gpus: 1 },
    });
    const kept = new Scheduler();
    const jobs = [job('a', NOW), job('b', NOW + 1)];
    const first = kept.schedule({ now: NOW, workers, running, jobs });
    const reasonOfB = first.waiting.get('b');
    // The same jobs again: nothing is edited, the first result still reads.
    kept.schedule({ now: NOW, workers, running, jobs: [...jobs] });
    expect(first.waiting.get('b')).toBe(reasonOfB);
    const second = kept.schedule({ now: NOW, workers, running, jobs: [...jobs, job('c', NOW + 2)] });
    expect(kept.lastOrderEdited).toBe(true);
    expect(() => first.waiting.get('b')).toThrow(/earlier pass/);
    expect(second.waiting.get('b')).toBe(reasonOfB);
  });

  it('takes on new jobs behind a full cluster without walking the queue, and walks it again once capacity frees', () => {
    const { workers, running } = buildWorkers([{ vcpus: 8, memoryMiB: 8192, gpus: 2, model: 0, mixed: false, nvlink: false, pool: 'a', zone: 'x', schedulable: true, used: 2, usedCpu: 2, timeout: 600, startedAgo: 0 }]);
    const kept = new Scheduler();
    const waitingJob = (id: string, submittedAt: number): RunnableJob => ({
      id, queue: 'q0', queuePriority: 1, priority: 0, submittedAt, pools: [], timeoutSeconds: 3600, resources: { vcpus: 1, memoryMiB: 512, gpus: 1 },
    });
    const jobs = Array.from({ length: 200 }, (_, i) => waitingJob(`j${i}`, NOW + i));
    const first = kept.schedule({ now: NOW, workers, running, jobs });
    expect(kept.lastPassKind).toBe('full');
    expect(first.waiting.get('j0')).toMatch(/^RESERVED: waiting for worker w0/);
    const full = 'RESOURCE: needs 1 GPU, 1 vCPU, 512 MiB; largest free block is 0 on worker w0';
    expect(first.waiting.get('j1')).toBe(full);

    const more = [...jobs, waitingJob('late', NOW + 1000)];
    const second = kept.schedule({ now: NOW + 5000, workers, running, jobs: more });
    expect(kept.lastPassKind).toBe('new-jobs');
    expect(second.waiting.get('late')).toBe(full);
    expect(second.waiting.size).toBe(201);
    expect(new Map(second.waiting)).toEqual(new Map(new Scheduler().schedule({ now: NOW + 5000, workers, running, jobs: more }).waiting));

    // The attempt ends: the worker is free again and the head of the queue starts.
    const freed = workers.map((w) => ({ ...w, allocated: { vcpus: 0, memoryMiB: 0, gpuIndices: [] } }));
    const third = kept.schedule({ now: NOW + 6000, workers: freed, running: [], jobs: more });
    expect(kept.lastPassKind).toBe('full');
    expect(third.placements.map((p) => p.jobId)).toEqual(['j0', 'j1']);
    expect(third.waiting.get('late')).toBe('PRIORITY: about 200 jobs ahead in queue q0');
  });

  it('does not reuse an outcome the clock has moved past', () => {
    // The reservation's estimated start is the running attempt's end (in 600 s); once that is past, the estimate moves with the clock.
    const { workers, running } = buildWorkers([{ vcpus: 8, memoryMiB: 8192, gpus: 1, model: 0, mixed: false, nvlink: false, pool: 'a', zone: 'x', schedulable: true, used: 1, usedCpu: 1, timeout: 600, startedAgo: 0 }]);
    const jobs: RunnableJob[] = [{ id: 'j', queue: 'q0', queuePriority: 1, priority: 0, submittedAt: NOW, pools: [], timeoutSeconds: 60, resources: { vcpus: 1, memoryMiB: 512, gpus: 1 } }];
    const kept = new Scheduler();
    kept.schedule({ now: NOW, workers, running, jobs });
    kept.schedule({ now: NOW + 599_000, workers, running, jobs });
    expect(kept.lastPassKind).toBe('unchanged');
    const late = kept.schedule({ now: NOW + 3_600_000, workers, running, jobs });
    expect(kept.lastPassKind).toBe('full');
    expect(late.waiting.get('j')).toBe(`RESERVED: waiting for worker w0, estimated start ${new Date(NOW + 3_600_000).toISOString().slice(0, 16).replace('T', ' ')}Z`);
  });
});
