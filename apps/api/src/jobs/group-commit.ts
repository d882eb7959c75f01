/**
 * Group commit: items handed in while a write is in flight (or within the
 * same turn of the event loop) are written together by the next one. Each
 * caller's promise settles with its own item's outcome, only once the write
 * that carried it has finished. A batch that fails is written again one item
 * at a time, so one bad item fails alone and the others still land; the
 * writer must make that safe (a failed batch write commits nothing).
 */
export class GroupCommit<T, R> {
  private pending: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;
  private lastSubmitAt = -Infinity;
  private busy = false;

  constructor(
    /** Writes the items in one transaction; returns one result per item, in order. */
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly options: {
      maxBatch: number; maxInFlight: number; windowMs: number;
      /**
       * While items arrive less than this apart, a write waits this long for
       * more. Under load the groups grow (each write, its commit and its
       * intake message shared by more items); an item that comes alone after
       * a pause is written at once. 0: off.
       */
      busyWindowMs?: number;
    },
  ) {}

  /** Resolves once the item's write has committed. */
  submit(item: T): Promise<R> {
    const now = performance.now();
    this.busy = now - this.lastSubmitAt < (this.options.busyWindowMs ?? 0);
    this.lastSubmitAt = now;
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight || this.pending.length === 0) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      void this.flush();
    };
    // The window lets submits parsed in the next few ms join; 0 still gathers everything already queued this turn.
    const windowMs = Math.max(this.options.windowMs, this.busy ? this.options.busyWindowMs ?? 0 : 0);
    if (windowMs > 0 && this.pending.length < this.options.maxBatch) setTimeout(go, windowMs);
    else setImmediate(go);
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    this.inFlight += 1;
    this.schedule(); // more than maxBatch waiting: the rest goes in a parallel write, up to maxInFlight
    try {
      let results: R[];
      try {
        results = await this.write(batch.map((b) => b.item));
      } catch (err) {
        if (batch.length === 1) throw err;
        // Nothing of the batch committed: each item alone, so the bad one fails by itself.
        await Promise.all(batch.map(async (b) => {
          try {
            const [r] = await this.write([b.item]);
            b.resolve(r);
          } catch (e) {
            b.reject(e);
          }
        }));
        return;
      }
      batch.forEach((b, i) => b.resolve(results[i]));
    } catch (err) {
      batch.forEach((b) => b.reject(err));
    } finally {
      this.inFlight -= 1;
      this.schedule();
    }
  }
}
