import { endsBefore, estimatedStart, holdsUntil } from './estimates.js';
import { describeRequest, formatTime } from './reasons.js';
import type { RunnableJob, RunningAttempt } from './types.js';
import type { WorkerState } from './worker-state.js';

/** The smallest and largest multi-node job. */
export const MIN_GANG_NODES = 2;
export const MAX_GANG_NODES = 64;

/** Where a gang would go: one worker per node, all in one pool, the main node's first. */
export interface GangFit {
  pool: string;
  workers: WorkerState[];
}

/** A gang waiting for capacity: the workers it holds for later, and when it expects to start. */
export interface GangReservation extends GangFit {
  /** Epoch ms; Infinity when a job in the way has no timeout. */
  startAt: number;
  /** Workers of that pool where one node fits right now. */
  availableNow: number;
}

/**
 * The pools a gang may use, in order of preference: its own list, or every
 * pool some schedulable worker is in (sorted, so passes agree).
 */
function gangPools(shape: RunnableJob, workers: readonly WorkerState[]): string[] {
  return shape.pools.length ? [...shape.pools] : [...new Set(workers.map((w) => w.node.pool))].sort();
}

/**
 * All nodes of a gang at once, or nothing: `size` distinct workers of one
 * pool where a node fits now and no reservation is broken (EASY backfill, as
 * for single jobs). Within a pool, workers sharing the topology label's
 * value are preferred (the group that fits the gang most tightly), then the
 * workers with the fewest free GPUs that still fit, so large blocks stay whole.
 */
export function fitGang(shape: RunnableJob, size: number, workers: readonly WorkerState[], now: number, topologyKey?: string): GangFit | undefined {
  for (const pool of gangPools(shape, workers)) {
    const candidates = workers.filter((w) => w.node.pool === pool && w.admits(shape) && w.fitsNow(shape)
      && (!w.reservation || endsBefore(shape, now, w.reservation.startAt)));
    if (candidates.length < size) continue;
    return { pool, workers: chooseNodes(shape, size, candidates, topologyKey) };
  }
  return undefined;
}

function chooseNodes(shape: RunnableJob, size: number, candidates: WorkerState[], topologyKey?: string): WorkerState[] {
  const bestFit = [...candidates].sort((a, b) => a.freeGpusFor(shape).length - b.freeGpusFor(shape).length || (a.node.id < b.node.id ? -1 : 1));
  if (!topologyKey) return bestFit.slice(0, size);
  const groups = new Map<string, WorkerState[]>();
  for (const w of bestFit) {
    const value = w.node.labels?.[topologyKey];
    if (value === undefined) continue;
    const group = groups.get(value);
    if (group) group.push(w);
    else groups.set(value, [w]);
  }
  // The smallest group that holds the whole gang; failing that, the gang spans groups.
  const group = [...groups.entries()].filter(([, g]) => g.length >= size).sort((a, b) => a[1].length - b[1].length || (a[0] < b[0] ? -1 : 1))[0];
  return group ? group[1].slice(0, size) : bestFit.slice(0, size);
}

/**
 * Where a gang that cannot start now will start soonest: in each pool, the
 * `size` unreserved workers that free up first (judged from running
 * attempts' timeouts); the gang's start is the last of them.
 */
export function reserveGang(
  shape: RunnableJob, size: number, workers: readonly WorkerState[], running: ReadonlyMap<string, RunningAttempt[]>, now: number,
): GangReservation | undefined {
  let best: GangReservation | undefined;
  for (const pool of gangPools(shape, workers)) {
    const candidates = workers.filter((w) => w.node.pool === pool && !w.reservation && w.admits(shape) && w.couldEverFit(shape));
    if (candidates.length < size) continue;
    const starts = candidates
      .map((w) => {
        if (!w.fitsNow(shape)) return { w, at: estimatedStart(shape, w, running.get(w.node.id) ?? [], now) ?? Infinity };
        holdsUntil(now); // a start of "now" moves with the clock
        return { w, at: now };
      })
      .sort((a, b) => a.at - b.at || (a.w.node.id < b.w.node.id ? -1 : 1))
      .slice(0, size);
    const startAt = starts[size - 1].at;
    if (!best || startAt < best.startAt) {
      best = { pool, workers: starts.map((s) => s.w), startAt, availableNow: candidates.filter((w) => w.fitsNow(shape)).length };
    }
  }
  return best;
}

/** `GANG: 1 of 2 nodes with 1 GPU, 1 vCPU, 512 MiB available in pool gpu; estimated start 2026-12-02 11:05Z` */
export function gangWaitingReason(shape: RunnableJob, size: number, availableNow: number, pool: string | undefined, startAt: number | undefined): string {
  const where = pool === undefined ? '' : ` in pool ${pool}`;
  const start = startAt === undefined ? '' : startAt === Infinity
    ? '; start unknown (jobs in the way have no timeoutSeconds)'
    : `; estimated start ${formatTime(startAt)}`;
  return `GANG: ${Math.min(availableNow, size)} of ${size} nodes with ${describeRequest(shape)} available${where}${start}`;
}

/**
 * Why a gang can never run, or undefined when some pool has enough workers
 * that could each hold one node: a gang needs `size` distinct workers of one pool.
 */
export function gangUnschedulable(shape: RunnableJob, size: number, workers: readonly WorkerState[]): string | undefined {
  const pools = gangPools(shape, workers);
  let most = 0;
  for (const pool of pools) {
    const n = workers.filter((w) => w.node.pool === pool && w.admits(shape) && w.couldEverFit(shape)).length;
    if (n >= size) return undefined;
    most = Math.max(most, n);
  }
  const inPools = shape.pools.length ? ` in pools [${shape.pools.join(', ')}]` : '';
  return `UNSCHEDULABLE: the job needs ${size} workers of one pool${inPools} with ${describeRequest(shape)} each; the most any pool has is ${most}`;
}

/** Where a multi-node job's main node listens (MASTER_PORT): a port of this range, on its worker's host network. */
export const GANG_PORT_RANGE = { first: 29400, last: 29999 } as const;

/**
 * The main node's port for one placement of a gang: taken from the gang's id
 * (so it is stable and spread), moving on past ports other gangs' main nodes
 * hold on the same worker. Undefined when the whole range is in use.
 */
export function gangPort(gangId: string, inUse: ReadonlySet<number>, range: { first: number; last: number } = GANG_PORT_RANGE): number | undefined {
  const size = range.last - range.first + 1;
  let hash = 0;
  for (let i = 0; i < gangId.length; i++) hash = (hash * 31 + gangId.charCodeAt(i)) >>> 0;
  for (let k = 0; k < size; k++) {
    const port = range.first + ((hash + k) % size);
    if (!inUse.has(port)) return port;
  }
  return undefined;
}

/**
 * What node `index` of a gang sees: gpubatch's own names, and what torchrun
 * (`--nnodes $NNODES --node_rank $NODE_RANK --master_addr $MASTER_ADDR
 * --master_port $MASTER_PORT`) and PyTorch's env:// rendezvous read.
 */
export function gangEnvironment(index: number, size: number, mainAddress: string, mainPort: number): Record<string, string> {
  return {
    GPUBATCH_NODE_INDEX: String(index),
    GPUBATCH_NUM_NODES: String(size),
    GPUBATCH_MAIN_NODE_ADDR: mainAddress,
    GPUBATCH_MAIN_NODE_PORT: String(mainPort),
    MASTER_ADDR: mainAddress,
    MASTER_PORT: String(mainPort),
    NNODES: String(size),
    WORLD_SIZE: String(size),
    NODE_RANK: String(index),
  };
}
