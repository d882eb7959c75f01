import type { WorkerSighting } from './heartbeat-sightings.js';

/** An attempt a worker lists that is not active on it (ended, or unknown). */
export interface OrphanedAttempt {
  workerId: string;
  key: string;
}

/**
 * Which workers to tell to stop containers of attempts that are not active:
 * an attempt listed by a worker but not active on it for longer than
 * `graceMs` (its exit may be on its way to being recorded), at most once per
 * `repeatMs` for the same worker and attempt.
 */
export class OrphanedAttempts {
  private readonly seen = new Map<string, { firstSeenAt: number; lastSentAt: number | null }>();

  constructor(private readonly graceMs: number, private readonly repeatMs: number) {}

  /** The attempts to send a terminate for now. */
  decide(workers: readonly Pick<WorkerSighting, 'workerId' | 'listed'>[], isActive: (workerId: string, key: string) => boolean, now: number): OrphanedAttempt[] {
    const current = new Set<string>();
    const terminate: OrphanedAttempt[] = [];
    for (const w of workers) {
      for (const key of w.listed ?? []) {
        if (isActive(w.workerId, key)) continue;
        const id = `${w.workerId}\u0000${key}`;
        current.add(id);
        let entry = this.seen.get(id);
        if (!entry) this.seen.set(id, (entry = { firstSeenAt: now, lastSentAt: null }));
        if (now - entry.firstSeenAt < this.graceMs) continue;
        if (entry.lastSentAt !== null && now - entry.lastSentAt < this.repeatMs) continue;
        entry.lastSentAt = now;
        terminate.push({ workerId: w.workerId, key });
      }
    }
    for (const id of this.seen.keys()) if (!current.has(id)) this.seen.delete(id);
    return terminate;
  }
}
