import { modelMatches } from '../gpu-model.js';
import { schedule } from '../placement/schedule.js';
import type { GpuSlot, Placement, RunnableJob, RunningAttempt, SchedulingPolicy, WorkerNode } from '../placement/types.js';
import { toMilliCpu } from '../resources.js';
import { computeMetrics, type CallStats } from './metrics.js';
import type { JobRecord, SimJob, SimNode, SimOptions, SimPolicy, SimResult, UnplaceableJob } from './types.js';

export const SIM_QUEUE = 'sim';
export const SIM_POOL = 'sim';

/** The core does something a real cluster could not do (over-commit, unknown job or worker, GPU given twice). */
export class SimulationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationError';
  }
}

export function policyFor(policy: SimPolicy): SchedulingPolicy {
  return policy === 'fifo' ? { mode: 'strict-fifo' } : { mode: 'backfill' };
}

/**
 * Whether some single node could ever run the job; if not, why. Uses the
 * core's own model matching.
 */
export function unplaceableReason(job: SimJob, nodes: readonly SimNode[]): UnplaceableJob['reason'] | undefined {
  const constraint = normalizeModels(job.gpuModel);
  let enoughGpus = false;
  for (const n of nodes) {
    const gpus = job.gpus === 0 || modelMatches(constraint, n.gpuModel) ? n.gpus : 0;
    if (gpus < job.gpus) continue;
    enoughGpus = true;
    if (toMilliCpu(n.vcpus) >= toMilliCpu(job.vcpus) && n.memoryMiB >= job.memoryMiB) return undefined;
  }
  return enoughGpus ? 'vcpus-or-memory' : 'gpus';
}

/** One node's held resources during the replay. */
class NodeState {
  milliCpu = 0;
  memoryMiB = 0;
  readonly heldGpus = new Set<number>();
  readonly slots: GpuSlot[];
  private cached: WorkerNode | undefined;

  constructor(readonly node: SimNode) {
    this.slots = Array.from({ length: node.gpus }, (_, index) => ({ index, model: node.gpuModel }));
  }

  /** The worker as the core sees it; rebuilt only after a change. */
  worker(): WorkerNode {
    this.cached ??= {
      id: this.node.id,
      pool: SIM_POOL,
      schedulable: true,
      capacity: { vcpus: this.node.vcpus, memoryMiB: this.node.memoryMiB, gpus: this.slots },
      allocated: { vcpus: this.milliCpu / 1000, memoryMiB: this.memoryMiB, gpuIndices: [...this.heldGpus].sort((a, b) => a - b) },
    };
    return this.cached;
  }

  take(job: SimJob, devices: readonly number[]): void {
    const where = `job ${job.id} on node ${this.node.id}`;
    if (devices.length !== job.gpus) throw new SimulationError(`${where}: ${devices.length} GPU devices for a ${job.gpus}-GPU job`);
    const constraint = normalizeModels(job.gpuModel);
    for (const d of devices) {
      if (!Number.isInteger(d) || d < 0 || d >= this.node.gpus) throw new SimulationError(`${where}: no GPU device ${d}`);
      if (this.heldGpus.has(d)) throw new SimulationError(`${where}: GPU ${d} is already held`);
      if (!modelMatches(constraint, this.node.gpuModel)) throw new SimulationError(`${where}: GPU model ${this.node.gpuModel} not allowed`);
    }
    if (new Set(devices).size !== devices.length) throw new SimulationError(`${where}: a GPU device given twice`);
    const milli = this.milliCpu + toMilliCpu(job.vcpus);
    const memory = this.memoryMiB + job.memoryMiB;
    if (milli > toMilliCpu(this.node.vcpus) || memory > this.node.memoryMiB) throw new SimulationError(`${where}: vCPUs or memory over-committed`);
    this.milliCpu = milli;
    this.memoryMiB = memory;
    for (const d of devices) this.heldGpus.add(d);
    this.cached = undefined;
  }

  release(job: SimJob, devices: readonly number[]): void {
    this.milliCpu -= toMilliCpu(job.vcpus);
    this.memoryMiB -= job.memoryMiB;
    for (const d of devices) this.heldGpus.delete(d);
    this.cached = undefined;
  }
}

interface Live {
  job: SimJob;
  /** A node of a multi-node job: its main node's entry records the job once, with all its GPUs. */
  gang?: { main: SimJob; index: number; size: number };
  runnable: RunnableJob;
  timeoutSeconds: number | null;
  node?: NodeState;
  devices?: number[];
  attempt?: RunningAttempt;
  startMs?: number;
  finishMs?: number;
}

/**
 * Replays a trace through the real core. At each distinct event time
 * (arrivals and completions) completions free their resources, arrivals
 * join the waiting list, and `schedule()` runs once over every waiting job;
 * its placements start now and finish after their duration. Jobs that no
 * single node could ever run are reported, not scheduled.
 */
export function simulate(nodes: readonly SimNode[], jobs: readonly SimJob[], options: SimOptions): SimResult {
  const ids = new Set<string>();
  for (const n of nodes) {
    if (ids.has(n.id)) throw new SimulationError(`node id ${n.id} given twice`);
    ids.add(n.id);
  }
  const states = nodes.map((n) => new NodeState(n));
  const byNode = new Map(states.map((s) => [s.node.id, s]));
  const policy = policyFor(options.policy);
  const clusterGpus = nodes.reduce((a, n) => a + n.gpus, 0);

  const unplaceable: UnplaceableJob[] = [];
  const arrivals: Live[] = [];
  const live = new Map<string, Live>();
  const nodeGpus = Math.max(0, ...nodes.map((n) => n.gpus));
  let gangJobs = 0;
  const admit = (job: SimJob, gang?: Live['gang']) => {
    const timeoutSeconds = job.timeoutSeconds === undefined ? job.durationSeconds : job.timeoutSeconds;
    const gpuModel = normalizeModels(job.gpuModel);
    const entry: Live = {
      job,
      timeoutSeconds,
      ...(gang ? { gang } : {}),
      runnable: {
        id: job.id, queue: SIM_QUEUE, queuePriority: 0, priority: 0, submittedAt: job.submitMs, pools: [], timeoutSeconds,
        resources: { vcpus: job.vcpus, memoryMiB: job.memoryMiB, gpus: job.gpus, ...(gpuModel ? { gpuModel } : {}) },
        ...(gang ? { gang: { id: gang.main.id, index: gang.index, size: gang.size } } : {}),
      },
    };
    if (live.has(job.id)) throw new SimulationError(`job id ${job.id} given twice`);
    live.set(job.id, entry);
    arrivals.push(entry);
  };
  for (const job of jobs) {
    if (live.has(job.id)) throw new SimulationError(`job id ${job.id} given twice`);
    const reason = unplaceableReason(job, nodes);
    if (reason === 'gpus' && options.gangs && nodeGpus > 0 && job.gpus > nodeGpus) {
      // Whole nodes: each node of the job takes a full node's GPUs, with vCPUs and memory in proportion.
      const size = Math.ceil(job.gpus / nodeGpus);
      const share = nodeGpus / job.gpus;
      const node: Omit<SimJob, 'id'> = { ...job, gpus: nodeGpus, vcpus: Math.ceil(job.vcpus * share * 1000) / 1000, memoryMiB: Math.ceil(job.memoryMiB * share) };
      if (size <= nodes.length && !unplaceableReason({ ...node, id: job.id }, nodes)) {
        for (let index = 0; index < size; index++) admit({ ...node, id: index === 0 ? job.id : `${job.id}#node${index}` }, { main: job, index, size });
        gangJobs++;
        continue;
      }
    }
    if (reason) {
      unplaceable.push({ id: job.id, reason });
      continue;
    }
    admit(job);
  }
  arrivals.sort((a, b) => a.job.submitMs - b.job.submitMs);

  const completions = new MinHeap<Live>((a, b) => a.finishMs! - b.finishMs! || (a.job.id < b.job.id ? -1 : a.job.id > b.job.id ? 1 : 0));
  const running = new Map<string, RunningAttempt>();
  let waiting: Live[] = [];
  const records: JobRecord[] = [];
  const calls: CallStats = { scheduleCalls: 0, scheduleCpuMs: 0, scheduleWallMs: 0, maxScheduleCallMs: 0, maxWaiting: 0 };
  const progressEvery = options.progressEvery ?? 10_000;
  let next = 0;

  while (next < arrivals.length || completions.size > 0) {
    const now = Math.min(next < arrivals.length ? arrivals[next].job.submitMs : Infinity, completions.peek()?.finishMs ?? Infinity);
    while (completions.size > 0 && completions.peek()!.finishMs! <= now) {
      const done = completions.pop()!;
      done.node!.release(done.job, done.devices!);
      running.delete(done.job.id);
      // A multi-node job is one job: its main node records it, with all its GPUs.
      if (done.gang && done.gang.index > 0) continue;
      records.push({
        id: done.job.id, nodeId: done.node!.node.id, gpus: done.gang ? done.job.gpus * done.gang.size : done.job.gpus,
        submitMs: done.job.submitMs, startMs: done.startMs!, finishMs: done.finishMs!,
      });
    }
    while (next < arrivals.length && arrivals[next].job.submitMs <= now) waiting.push(arrivals[next++]);
    if (waiting.length === 0) continue;

    calls.maxWaiting = Math.max(calls.maxWaiting, waiting.length);
    const input = {
      now,
      workers: states.map((s) => s.worker()),
      jobs: waiting.map((w) => w.runnable),
      running: [...running.values()],
      policy,
    };
    const cpu0 = options.clock?.() ?? 0;
    const wall0 = options.wallClock?.() ?? 0;
    const result = schedule(input);
    const cpu = (options.clock?.() ?? 0) - cpu0;
    calls.scheduleWallMs += (options.wallClock?.() ?? 0) - wall0;
    calls.scheduleCpuMs += cpu;
    calls.maxScheduleCallMs = Math.max(calls.maxScheduleCallMs, cpu);
    calls.scheduleCalls++;

    if (result.placements.length > 0) {
      const placed = new Set<string>();
      for (const p of result.placements) start(p, now, placed);
      // All or nothing: a gang with a node placed has every node placed, each on its own node.
      const gangNodes = new Map<string, Set<string>>();
      for (const w of waiting) {
        if (!w.gang || !placed.has(w.job.id)) continue;
        const onNodes = gangNodes.get(w.gang.main.id) ?? new Set<string>();
        onNodes.add(w.node!.node.id);
        gangNodes.set(w.gang.main.id, onNodes);
      }
      for (const [id, onNodes] of gangNodes) {
        const size = live.get(id)!.gang!.size;
        if (onNodes.size !== size) throw new SimulationError(`multi-node job ${id} placed on ${onNodes.size} distinct nodes of ${size}`);
      }
      waiting = waiting.filter((w) => !placed.has(w.job.id));
    }
    if (options.onProgress && calls.scheduleCalls % progressEvery === 0) {
      options.onProgress({ nowMs: now, scheduleCalls: calls.scheduleCalls, waiting: waiting.length, running: running.size, started: records.length + running.size, jobs: arrivals.length });
    }
  }
  if (waiting.length > 0) throw new SimulationError(`${waiting.length} jobs never started, e.g. ${waiting[0].job.id}`);

  const metrics = computeMetrics(records, clusterGpus, unplaceable.length, calls);
  return { metrics: options.gangs ? { ...metrics, gangJobs } : metrics, records, unplaceable };

  function start(p: Placement, now: number, placed: Set<string>): void {
    const entry = live.get(p.jobId);
    const node = byNode.get(p.workerId);
    if (!entry || entry.startMs !== undefined || placed.has(p.jobId) || entry.job.submitMs > now) throw new SimulationError(`placement of job ${p.jobId}, which is not waiting`);
    if (!node) throw new SimulationError(`job ${p.jobId} placed on unknown worker ${p.workerId}`);
    node.take(entry.job, p.gpuDevices);
    placed.add(p.jobId);
    entry.node = node;
    entry.devices = [...p.gpuDevices];
    entry.startMs = now;
    entry.finishMs = now + Math.round(entry.job.durationSeconds * 1000);
    const attempt: RunningAttempt = {
      jobId: entry.job.id, workerId: node.node.id, startedAt: now, timeoutSeconds: entry.timeoutSeconds,
      vcpus: entry.job.vcpus, memoryMiB: entry.job.memoryMiB, gpuIndices: entry.devices,
    };
    running.set(entry.job.id, attempt);
    completions.push(entry);
  }
}

/** Model names as the core compares them (parseGpuModel lower-cases). */
function normalizeModels(models: readonly string[] | undefined): string[] | undefined {
  return models?.length ? models.map((m) => m.toLowerCase()) : undefined;
}

class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.less(a[i], a[parent]) >= 0) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m]) < 0) m = l;
        if (r < a.length && this.less(a[r], a[m]) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}
