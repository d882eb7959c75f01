/** What a job asks for. vCPUs may be fractional (0.5); memory is in MiB. */
export interface Resources {
  vcpus: number;
  memoryMiB: number;
  gpus: number;
}

/**
 * vCPUs are counted in thousandths inside the core so that adding and
 * releasing fractional requests never drifts (0.1 + 0.2 !== 0.3).
 */
export function toMilliCpu(vcpus: number): number {
  return Math.round(vcpus * 1000);
}

export function fromMilliCpu(milli: number): number {
  return milli / 1000;
}

/** Human form for reasons: "2 vCPU, 4096 MiB, 1 GPU". */
export function describeResources(r: Resources): string {
  const parts = [`${r.vcpus} vCPU`, `${r.memoryMiB} MiB`];
  if (r.gpus > 0) parts.push(`${r.gpus} GPU`);
  return parts.join(', ');
}
