export type CapacityType = 'ON_DEMAND' | 'SPOT';

/** A job queue's say in where its jobs run. */
export interface QueuePools {
  /** In order of preference; empty means any pool. */
  pools: readonly string[];
  /** Interruptible jobs try SPOT pools first; other jobs never run on SPOT pools. */
  preferSpotForInterruptible: boolean;
}

/**
 * The pools a job may run in, in order of preference. `known` lists every
 * pool there is (priced or only joined by workers), for queues that allow
 * any; a pool without a price card counts as ON_DEMAND.
 */
export function poolsForJob(
  queue: QueuePools, interruptible: boolean, capacityType: ReadonlyMap<string, CapacityType>, known: readonly string[],
): string[] {
  if (!queue.preferSpotForInterruptible) return [...queue.pools];
  const candidates = queue.pools.length > 0 ? queue.pools : known;
  const spot = candidates.filter((p) => capacityType.get(p) === 'SPOT');
  const onDemand = candidates.filter((p) => capacityType.get(p) !== 'SPOT');
  // An empty list would mean "any pool": a job that may use none gets a pool that cannot exist.
  const pools = interruptible ? [...spot, ...onDemand] : onDemand;
  return pools.length > 0 ? pools : [NO_POOL];
}

/** Matches no worker: pool names never contain a space. */
export const NO_POOL = '(no pool allowed)';
