import type { ScheduleInput } from './types.js';

/**
 * Everything a pass reads besides its jobs, `now` and the fair-share usage,
 * as one flat list of primitives: two passes whose lists are equal see the
 * same workers, attempts, project limits and policy. Copied out, so a caller
 * that reuses and changes its objects between passes is still seen to change.
 */
export function passInputs(input: ScheduleInput): unknown[] {
  const out: unknown[] = [input.policy?.mode, input.policy?.maxReservations, input.workers.length];
  for (const w of input.workers) {
    out.push(w.id, w.pool, w.schedulable, w.capacity.vcpus, w.capacity.memoryMiB, w.allocated.vcpus, w.allocated.memoryMiB);
    const labels = w.labels ? Object.keys(w.labels) : [];
    out.push(labels.length);
    for (const k of labels) out.push(k, w.labels![k]);
    out.push(w.capacity.gpus.length);
    for (const g of w.capacity.gpus) out.push(g.index, g.model, g.nvlinkGroup);
    out.push(w.allocated.gpuIndices.length, ...w.allocated.gpuIndices);
  }
  const running = input.running ?? [];
  out.push(running.length);
  for (const r of running) {
    out.push(r.jobId, r.workerId, r.startedAt, r.timeoutSeconds, r.vcpus, r.memoryMiB, r.gpuIndices.length);
    for (const g of r.gpuIndices) out.push(g);
  }
  const projects = input.projects ?? new Map();
  out.push(projects.size);
  for (const [name, p] of projects) {
    const b = p.budgetSpent;
    out.push(name, p.gpuQuota, p.gpusHeld, b !== undefined, b?.spent, b?.budget, b?.currency, b?.month);
  }
  return out;
}

/** Whether two lists from passInputs are the same. */
export function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
