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
    const nums = this.nums;
    const strs = this.strs;
    visit(input, (x) => void nums.push(x), (s) => void strs.push(s));
  }

  /** Whether `input` reads the same as the input this was made from. */
  matches(input: ScheduleInput): boolean {
    const nums = this.nums;
    const strs = this.strs;
    let n = 0;
    let s = 0;
    let same = true;
    visit(input, (x) => {
      if (same && nums[n++] !== x) same = false;
    }, (x) => {
      if (same && strs[s++] !== x) same = false;
    });
    return same && n === nums.length && s === strs.length;
  }
}

function num(x: number | null | undefined | boolean): number {
  return x === null ? NULL : x === undefined ? UNDEFINED : typeof x === 'boolean' ? (x ? 1 : 0) : x;
}

function visit(input: ScheduleInput, n: (x: number) => void, s: (x: string | undefined) => void): void {
  s(input.policy?.mode);
  n(num(input.policy?.maxReservations));
  n(input.workers.length);
  for (const w of input.workers) {
    s(w.id);
    s(w.pool);
    n(num(w.schedulable));
    n(w.capacity.vcpus);
    n(w.capacity.memoryMiB);
    n(w.allocated.vcpus);
    n(w.allocated.memoryMiB);
    const labels = w.labels;
    if (labels) {
      for (const k in labels) {
        s(k);
        s(labels[k]);
      }
    }
    s(undefined); // end of labels
    n(w.capacity.gpus.length);
    for (const g of w.capacity.gpus) {
      n(g.index);
      s(g.model);
      n(num(g.nvlinkGroup));
    }
    n(w.allocated.gpuIndices.length);
    for (const g of w.allocated.gpuIndices) n(g);
  }
  const running = input.running ?? [];
  n(running.length);
  for (const r of running) {
    s(r.jobId);
    s(r.workerId);
    n(r.startedAt);
    n(num(r.timeoutSeconds));
    n(r.vcpus);
    n(r.memoryMiB);
    n(r.gpuIndices.length);
    for (const g of r.gpuIndices) n(g);
  }
  const projects = input.projects;
  n(projects?.size ?? 0);
  if (projects) {
    for (const [name, p] of projects) {
      s(name);
      n(num(p.gpuQuota));
      n(p.gpusHeld);
      const b = p.budgetSpent;
      n(num(b !== undefined));
      s(b?.spent);
      s(b?.budget);
      s(b?.currency);
      s(b?.month);
    }
  }
}
