/** One heartbeat entry as read: the worker's own time and the attempts it lists (undefined from workers that do not list them). */
export interface HeartbeatEntry {
  workerId: string;
  /** The worker's clock: compared only with itself, to tell a new beat from the old one. */
  heartbeatAt: number;
  attempts?: readonly string[];
  /** The id that starts the worker process's dispatch lock tokens (undefined from older workers). */
  claimer?: string;
}

/** What the scheduler knows of one worker's heartbeats, by the scheduler's clock. */
export interface WorkerSighting {
  workerId: string;
  /** When this scheduler first read the entry (or last lost sight of every entry, after a read outage). */
  firstSeenAt: number;
  /** When the entry last changed, by the scheduler's clock; the first reading counts. */
  lastHeardAt: number;
  /** Whether the entry has changed since it was first read or since the worker was judged LOST: proof of life. */
  changedSinceMark: boolean;
  /** The worker's heartbeatAt in the latest entry. */
  heartbeatAt: number;
  /** The worker's heartbeatAt in the first entry read: how far its clock had got when this scheduler started watching. */
  firstHeartbeatAt: number;
  /** The attempts the latest entry lists; undefined when the worker does not list them. */
  listed: ReadonlySet<string> | undefined;
  /** The claimer in the latest entry. */
  claimer: string | undefined;
}

/** When an attempt was last listed by its worker: the scheduler's time and the worker's. */
export interface AttemptListing {
  lastListedAt: number;
  workerHeartbeatAt: number;
}

/**
 * The heartbeat entries as this scheduler saw them change. Liveness is judged
 * from when an entry changed by the scheduler's clock, never from the
 * worker's heartbeatAt against it (the clocks may disagree by minutes).
 */
export class HeartbeatSightings {
  private readonly workers = new Map<string, WorkerSighting>();
  private readonly listings = new Map<string, Map<string, AttemptListing>>();

  constructor(private readonly keepListingsMs = 3_600_000) {}

  /** Takes in one reading of every entry; entries gone from the reading are forgotten. Returns the workers whose entry changed. */
  observe(entries: readonly HeartbeatEntry[], now: number): string[] {
    const changed: string[] = [];
    const present = new Set<string>();
    for (const e of entries) {
      present.add(e.workerId);
      const before = this.workers.get(e.workerId);
      const listed = e.attempts ? new Set(e.attempts) : undefined;
      if (!before) {
        this.workers.set(e.workerId, {
          workerId: e.workerId, firstSeenAt: now, lastHeardAt: now, changedSinceMark: false, heartbeatAt: e.heartbeatAt,
          firstHeartbeatAt: e.heartbeatAt, listed, claimer: e.claimer,
        });
      } else if (before.heartbeatAt !== e.heartbeatAt || !sameSet(before.listed, listed) || before.claimer !== e.claimer) {
        Object.assign(before, { lastHeardAt: now, changedSinceMark: true, heartbeatAt: e.heartbeatAt, listed, claimer: e.claimer });
        changed.push(e.workerId);
      } else {
        continue;
      }
      let onWorker = this.listings.get(e.workerId);
      if (!onWorker) this.listings.set(e.workerId, (onWorker = new Map()));
      for (const key of listed ?? []) onWorker.set(key, { lastListedAt: now, workerHeartbeatAt: e.heartbeatAt });
      // Kept after the worker stops listing an attempt (decisions need when it last did), for a bounded time.
      for (const [key, l] of onWorker) if (now - l.lastListedAt > this.keepListingsMs) onWorker.delete(key);
    }
    for (const id of this.workers.keys()) {
      if (present.has(id)) continue;
      this.workers.delete(id);
      this.listings.delete(id);
    }
    return changed;
  }

  /** A worker just judged LOST must show a new beat before it counts as alive again. */
  markLost(workerId: string): void {
    const w = this.workers.get(workerId);
    if (w) w.changedSinceMark = false;
  }

  get(workerId: string): WorkerSighting | undefined {
    return this.workers.get(workerId);
  }

  all(): WorkerSighting[] {
    return [...this.workers.values()];
  }

  /** When the worker last listed an attempt (within the kept window); undefined when it never did since this scheduler watched. */
  listing(workerId: string, key: string): AttemptListing | undefined {
    return this.listings.get(workerId)?.get(key);
  }
}

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((k) => b.has(k));
}
