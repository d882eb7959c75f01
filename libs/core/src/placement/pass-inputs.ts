import type { ScheduleInput } from './types.js';

// null and undefined as numbers: told apart from every real value and from each other.
const NULL = -1.7e308;
const UNDEFINED = -1.6e308;

/**
 * Everything a pass reads besides its jobs, `now` and the fair-share usage
 * (workers, running attempts, project limits, policy), copied out as flat
 * lists of numbers and strings: two passes whose copies match see the same
 * inputs, even from a caller that reuses and changes its objects. Matching
 * reads the input once and allocates nothing: an idle pass at 10,000
 * attempts pays microseconds for it.
 */
export class PassInputs {
  private readonly nums: number[] = [];
  private readonly strs: (string | undefined)[] = [];

  constructor(input: ScheduleInput) {
    visit(input, new Recorder(this.nums, this.strs));
  }

  /** Whether `input` reads the same as the input this was made from. */
  matches(input: ScheduleInput): boolean {
    const matcher = new Matcher(this.nums, this.strs);
    visit(input, matcher);
    return matcher.same && matcher.n === this.nums.length && matcher.s === this.strs.length;
  }
}

/** What `visit` reads goes to one of two sinks: classes rather than closures, so that the reads inline in the loops. */
interface Sink {
  num(x: number): void;
  str(x: string | undefined): void;
  /** False once reading on can change nothing (a difference was found). */
  readonly going: boolean;
}

class Recorder implements Sink {
  readonly going = true;
  constructor(private readonly nums: number[], private readonly strs: (string | undefined)[]) {}
  num(x: number): void {
    this.nums.push(x);
  }
  str(x: string | undefined): void {
    this.strs.push(x);
  }
}

class Matcher implements Sink {
  n = 0;
  s = 0;
  same = true;
  constructor(private readonly nums: readonly number[], private readonly strs: readonly (string | undefined)[]) {}
  get going(): boolean {
    return this.same;
  }
  num(x: number): void {
    if (this.nums[this.n++] !== x) this.same = false;
  }
  str(x: string | undefined): void {
    if (this.strs[this.s++] !== x) this.same = false;
  }
}

function num(x: number | null | undefined | boolean): number {
  return x === null ? NULL : x === undefined ? UNDEFINED : typeof x === 'boolean' ? (x ? 1 : 0) : x;
}

function visit(input: ScheduleInput, sink: Sink): void {
  sink.str(input.policy?.mode);
  sink.num(num(input.policy?.maxReservations));
  sink.num(input.workers.length);
  for (const w of input.workers) {
    if (!sink.going) return;
    sink.str(w.id);
    sink.str(w.pool);
    sink.num(num(w.schedulable));
    sink.num(w.capacity.vcpus);
    sink.num(w.capacity.memoryMiB);
    sink.num(w.allocated.vcpus);
    sink.num(w.allocated.memoryMiB);
    const labels = w.labels;
    if (labels) {
      for (const k in labels) {
        sink.str(k);
        sink.str(labels[k]);
      }
    }
    sink.str(undefined); // end of labels
    sink.num(w.capacity.gpus.length);
    for (const g of w.capacity.gpus) {
      sink.num(g.index);
      sink.str(g.model);
      sink.num(num(g.nvlinkGroup));
    }
    sink.num(w.allocated.gpuIndices.length);
    for (const g of w.allocated.gpuIndices) sink.num(g);
  }
  const running = input.running ?? [];
  sink.num(running.length);
  for (const r of running) {
    if (!sink.going) return;
    sink.str(r.jobId);
    sink.str(r.workerId);
    sink.num(r.startedAt);
    sink.num(num(r.timeoutSeconds));
    sink.num(r.vcpus);
    sink.num(r.memoryMiB);
    sink.num(r.gpuIndices.length);
    for (const g of r.gpuIndices) sink.num(g);
  }
  const projects = input.projects;
  sink.num(projects?.size ?? 0);
  if (projects) {
    for (const [name, p] of projects) {
      sink.str(name);
      sink.num(num(p.gpuQuota));
      sink.num(p.gpusHeld);
      const b = p.budgetSpent;
      sink.num(num(b !== undefined));
      sink.str(b?.spent);
      sink.str(b?.budget);
      sink.str(b?.currency);
      sink.str(b?.month);
    }
  }
}
