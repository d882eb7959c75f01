/**
 * The reason of every job a pass left waiting. A pass may leave a million
 * jobs waiting, most of them sharing a handful of reason strings: they are
 * kept as two arrays in the pass's order, and indexed by id only when a
 * caller looks one up. Reads like a ReadonlyMap; `set` adds or replaces.
 */
export class WaitingReasons implements Iterable<[string, string]> {
  private index: Map<string, number> | undefined;

  constructor(
    /** Job ids, in the order the pass considered them. */
    readonly ids: string[] = [],
    /** `reasons[i]` is the reason of `ids[i]`. */
    readonly reasons: string[] = [],
  ) {}

  get size(): number {
    return this.ids.length;
  }

  /** Appends a job known not to be listed yet: the pass sees each job once. */
  add(id: string, reason: string): void {
    this.index?.set(id, this.ids.length);
    this.ids.push(id);
    this.reasons.push(reason);
  }

  /** Adds a job the pass did not see, or replaces a job's reason. */
  set(id: string, reason: string): this {
    const at = this.indexed().get(id);
    if (at === undefined) {
      this.index!.set(id, this.ids.length);
      this.ids.push(id);
      this.reasons.push(reason);
    } else this.reasons[at] = reason;
    return this;
  }

  get(id: string): string | undefined {
    const at = this.indexed().get(id);
    return at === undefined ? undefined : this.reasons[at];
  }

  has(id: string): boolean {
    return this.indexed().has(id);
  }

  *entries(): IterableIterator<[string, string]> {
    for (let i = 0; i < this.ids.length; i++) yield [this.ids[i], this.reasons[i]];
  }

  keys(): IterableIterator<string> {
    return this.ids[Symbol.iterator]();
  }

  values(): IterableIterator<string> {
    return this.reasons[Symbol.iterator]();
  }

  forEach(fn: (reason: string, id: string) => void): void {
    for (let i = 0; i < this.ids.length; i++) fn(this.reasons[i], this.ids[i]);
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  private indexed(): Map<string, number> {
    if (!this.index) {
      this.index = new Map();
      for (let i = 0; i < this.ids.length; i++) this.index.set(this.ids[i], i);
    }
    return this.index;
  }
}
