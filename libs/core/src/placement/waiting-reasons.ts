/**
 * The reason of every job a pass left waiting. A pass may leave a million
 * jobs waiting that share a handful of reason strings: they are kept as one
 * number per job of the pass's order (an index into the distinct reasons),
 * and indexed by id only when a caller looks one up. Reads like a
 * ReadonlyMap; `set` adds or replaces. Iterates in the pass's order, then
 * the jobs added with `set`. A Scheduler's result reads the order it keeps,
 * which the next pass may edit in place: read it before then (after, it
 * throws rather than give another pass's reasons).
 */
export class WaitingReasons implements Iterable<[string, string]> {
  private index: Map<string, number> | undefined;
  private readonly extraIds: string[] = [];
  private readonly extraReasons: string[] = [];
  private readonly setIds: string[] = [];
  private readonly waitingInPass: number;

  // True while `codes` and `texts` may be shared with the core's memory of the pass (and other results): copied before a change.
  private shared: boolean;

  constructor(
    /** The ids of the pass's jobs, in its order. */
    private readonly passIds: readonly string[] = [],
    /** Per job of the pass: the index of its reason in `texts`, or -1 when it is not waiting (placed). */
    private codes: Int32Array = new Int32Array(0),
    private texts: string[] = [],
    /** How many of `codes` are not -1, when the caller knows. */
    waitingInPass?: number,
    /** True once `passIds` or `codes` have been edited for a later pass. */
    private readonly stale: () => boolean = () => false,
  ) {
    this.shared = waitingInPass !== undefined;
    let n = waitingInPass ?? 0;
    if (waitingInPass === undefined) for (let i = 0; i < codes.length; i++) if (codes[i] >= 0) n++;
    this.waitingInPass = n;
  }

  /** The ids given to `set`, in the order given. */
  get changedBySet(): readonly string[] {
    return this.setIds;
  }

  get size(): number {
    return this.waitingInPass + this.extraIds.length;
  }

  /** Adds a job the pass did not see, or replaces a job's reason. */
  set(id: string, reason: string): this {
    this.check();
    this.setIds.push(id);
    const at = this.indexed().get(id);
    if (at === undefined) {
      this.index!.set(id, this.passIds.length + this.extraIds.length);
      this.extraIds.push(id);
      this.extraReasons.push(reason);
    } else if (at < this.passIds.length) {
      if (this.shared) {
        this.codes = this.codes.slice();
        this.texts = this.texts.slice();
        this.shared = false;
      }
      this.texts.push(reason);
      this.codes[at] = this.texts.length - 1;
    } else this.extraReasons[at - this.passIds.length] = reason;
    return this;
  }

  get(id: string): string | undefined {
    this.check();
    const at = this.indexed().get(id);
    if (at === undefined) return undefined;
    return at < this.passIds.length ? this.texts[this.codes[at]] : this.extraReasons[at - this.passIds.length];
  }

  has(id: string): boolean {
    this.check();
    return this.indexed().has(id);
  }

  /** Calls `fn` for every waiting job, without building pairs: what a writer of a million reasons wants. */
  forEach(fn: (reason: string, id: string) => void): void {
    this.check();
    for (let i = 0; i < this.codes.length; i++) if (this.codes[i] >= 0) fn(this.texts[this.codes[i]], this.passIds[i]);
    for (let i = 0; i < this.extraIds.length; i++) fn(this.extraReasons[i], this.extraIds[i]);
  }

  *entries(): IterableIterator<[string, string]> {
    this.check();
    for (let i = 0; i < this.codes.length; i++) if (this.codes[i] >= 0) yield [this.passIds[i], this.texts[this.codes[i]]];
    for (let i = 0; i < this.extraIds.length; i++) yield [this.extraIds[i], this.extraReasons[i]];
  }

  *keys(): IterableIterator<string> {
    for (const [id] of this.entries()) yield id;
  }

  *values(): IterableIterator<string> {
    for (const [, reason] of this.entries()) yield reason;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  private check(): void {
    if (this.stale()) throw new Error('waiting reasons of an earlier pass, read after the next pass edited its order: read them before');
  }

  private indexed(): Map<string, number> {
    if (!this.index) {
      this.index = new Map();
      for (let i = 0; i < this.codes.length; i++) if (this.codes[i] >= 0) this.index.set(this.passIds[i], i);
      for (let i = 0; i < this.extraIds.length; i++) this.index.set(this.extraIds[i], this.passIds.length + i);
    }
    return this.index;
  }
}
