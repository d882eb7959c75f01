import type { GpuSlot } from './types.js';

/**
 * Picks `count` devices from the free ones. With NVLink groups reported, the
 * smallest group that holds them all; otherwise the shortest run of
 * consecutive indices that fits (so longer runs stay whole), lowest first;
 * failing both, the lowest free indices.
 */
export function chooseGpus(free: readonly GpuSlot[], count: number): number[] {
  if (count === 0) return [];
  const sorted = [...free].sort((a, b) => a.index - b.index);
  const groups = new Map<number, number[]>();
  for (const g of sorted) {
    if (g.nvlinkGroup === undefined || g.nvlinkGroup === null) continue;
    groups.set(g.nvlinkGroup, [...(groups.get(g.nvlinkGroup) ?? []), g.index]);
  }
  const group = [...groups.values()].filter((members) => members.length >= count).sort((a, b) => a.length - b.length || a[0] - b[0])[0];
  if (group) return group.slice(0, count);

  let best: number[] | undefined;
  let run: number[] = [];
  const consider = () => {
    if (run.length >= count && (!best || run.length < best.length)) best = run;
  };
  for (const g of sorted) {
    if (run.length > 0 && g.index !== run[run.length - 1] + 1) {
      consider();
      run = [];
    }
    run.push(g.index);
  }
  consider();
  return (best ?? sorted.map((g) => g.index)).slice(0, count);
}
