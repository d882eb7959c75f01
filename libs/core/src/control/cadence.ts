/**
 * When a periodic task is due, by a clock passed in: first `firstAfterMs`
 * after `startedAt`, then every `everyMs` after the last run.
 */
export class Cadence {
  private nextAt: number;

  constructor(readonly everyMs: number, startedAt: number, firstAfterMs = 0) {
    this.nextAt = startedAt + firstAfterMs;
  }

  /** True (and the next run planned) when the task is due at `now`. */
  due(now: number): boolean {
    if (now < this.nextAt) return false;
    this.nextAt = now + this.everyMs;
    return true;
  }

  /** Asks for a run at the next check, whatever the cadence. */
  hurry(): void {
    this.nextAt = Number.NEGATIVE_INFINITY;
  }
}
