import type { WorkerSighting } from './heartbeat-sightings.js';

/**
 * The workers to hold LOST now. A worker is LOST when its heartbeat entry has
 * not changed for `timeoutMs` by the scheduler's clock; after a read outage
 * the silence counts only from when reads came back, so every worker gets a
 * full period. A worker already LOST stays LOST until its entry changes.
 */
export function decideLiveness(
  workers: readonly Pick<WorkerSighting, 'workerId' | 'lastHeardAt' | 'changedSinceMark'>[],
  wasLost: ReadonlySet<string>,
  now: number,
  timeoutMs: number,
  redisOutageEndedAt: number | null,
): Set<string> {
  const lost = new Set<string>();
  for (const w of workers) {
    const quietSince = Math.max(w.lastHeardAt, redisOutageEndedAt ?? Number.NEGATIVE_INFINITY);
    if ((wasLost.has(w.workerId) && !w.changedSinceMark) || now - quietSince > timeoutMs) lost.add(w.workerId);
  }
  return lost;
}

/**
 * Workers whose heartbeat entry has been gone for longer than `timeoutMs`:
 * what they hold is stranded. The absence counts from `watchingSince` at the
 * earliest (when this scheduler started leading, or reads came back after an
 * outage), since a Redis restart also empties the entries for a moment.
 */
export function decideDeparted(left: readonly { workerId: string; leftAt: number }[], now: number, timeoutMs: number, watchingSince: number): string[] {
  return left.filter((w) => now - Math.max(w.leftAt, watchingSince) > timeoutMs).map((w) => w.workerId);
}
