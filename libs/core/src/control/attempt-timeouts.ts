import type { HeartbeatSightings } from './heartbeat-sightings.js';

/** A RUNNING attempt with a timeout. */
export interface TimedAttempt {
  workerId: string;
  key: string;
  /** The container's start, by the worker's clock (as the worker reported it). */
  startedAt: number;
  timeoutSeconds: number;
}

export interface TimedOutAttempt extends TimedAttempt {
  /** By the worker's clock: the end of its allowed run, or its worker's last word on it if earlier. */
  stoppedAt: number;
}

/**
 * Attempts past their timeout plus `graceMs` whose worker has stopped
 * reporting on them for longer than `silenceMs` (the worker ends timed-out
 * attempts itself; this is for when it cannot). Elapsed time is measured on
 * the worker's clock, estimated as its last heartbeatAt plus the scheduler
 * time since that beat was heard, so clock skew does not shorten a run.
 */
export function decideTimeouts(
  running: readonly TimedAttempt[],
  sightings: Pick<HeartbeatSightings, 'get' | 'listing'>,
  now: number,
  graceMs: number,
  silenceMs: number,
  watchingSince: number,
): TimedOutAttempt[] {
  const timedOut: TimedOutAttempt[] = [];
  for (const a of running) {
    const s = sightings.get(a.workerId);
    const workerNow = s ? s.heartbeatAt + (now - s.lastHeardAt) : now;
    const deadline = a.startedAt + a.timeoutSeconds * 1000;
    if (workerNow - deadline <= graceMs) continue;
    const listing = s?.listed === undefined ? undefined : sightings.listing(a.workerId, a.key);
    // A worker that does not list attempts reports on all of them with each beat.
    const reportedAt = s === undefined ? Number.NEGATIVE_INFINITY : s.listed === undefined ? s.lastHeardAt : listing?.lastListedAt ?? Number.NEGATIVE_INFINITY;
    if (now - Math.max(reportedAt, watchingSince) <= silenceMs) continue;
    const lastWord = s === undefined ? deadline : s.listed === undefined ? s.heartbeatAt : listing?.workerHeartbeatAt ?? deadline;
    timedOut.push({ ...a, stoppedAt: Math.max(a.startedAt, Math.min(deadline, lastWord)) });
  }
  return timedOut;
}
