import type { HeartbeatSightings } from './heartbeat-sightings.js';

/** An attempt the scheduler holds as STARTING or RUNNING on a worker. */
export interface HeldAttempt {
  workerId: string;
  /** `attemptKey(jobId, attempt)`, as heartbeats list it. */
  key: string;
  /** By the scheduler's clock: when it was placed, or when this scheduler took it over. */
  heldSince: number;
}

export interface StrandedAttempt extends HeldAttempt {
  /** By the worker's clock: the last moment its worker is known to have held it. */
  lastHeldAt: number;
}

/**
 * Held attempts their worker no longer runs: its latest heartbeat lists
 * attempts and omits this one, and was heard more than `graceMs` after the
 * attempt was last known to be there (placed, listed, or first watched).
 * The grace covers an attempt dispatched a moment ago that the worker has
 * not claimed yet. Workers in `skip` (LOST ones) are left to lost-worker recovery.
 */
export function decideStrandedAttempts(
  held: readonly HeldAttempt[],
  sightings: Pick<HeartbeatSightings, 'get' | 'listing'>,
  graceMs: number,
  watchingSince: number,
  skip: ReadonlySet<string> = new Set(),
): StrandedAttempt[] {
  const stranded: StrandedAttempt[] = [];
  for (const a of held) {
    const s = sightings.get(a.workerId);
    if (!s || skip.has(a.workerId) || s.listed === undefined || s.listed.has(a.key)) continue;
    const listing = sightings.listing(a.workerId, a.key);
    const knownSince = Math.max(a.heldSince, listing?.lastListedAt ?? Number.NEGATIVE_INFINITY, s.firstSeenAt, watchingSince);
    if (s.lastHeardAt - knownSince > graceMs) {
      stranded.push({ ...a, lastHeldAt: listing?.workerHeartbeatAt ?? s.firstHeartbeatAt });
    }
  }
  return stranded;
}
