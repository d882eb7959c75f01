import type { EntityManager } from 'typeorm';
import type { GpuUtilizationSummary } from '#libs/core';

/**
 * Keeps what a worker sampled of an attempt's GPUs: the averages and peaks
 * on the attempt, and the idle GPU-seconds (its billed GPU-seconds times the
 * share of samples under 5% busy) on its usage row, which the rollup
 * trigger carries into reports. Called once, with the settled usage row.
 */
export async function recordGpuUtilization(tx: EntityManager, jobId: string, attempt: number, u: GpuUtilizationSummary): Promise<void> {
  await tx.query(
    `UPDATE job_attempts SET gpu_util_samples = $3, gpu_util_avg = $4, gpu_util_peak = $5, gpu_memory_avg_mib = $6,
            gpu_memory_peak_mib = $7, gpu_idle_fraction = $8
     WHERE job_id = $1 AND attempt = $2`,
    [jobId, attempt, u.samples, u.avgPercent, u.peakPercent, u.avgMemoryMiB, u.peakMemoryMiB, u.idleFraction],
  );
  await tx.query(
    `UPDATE usage SET idle_gpu_seconds = round(gpus::numeric * billed_seconds * $3)::bigint
     WHERE job_id = $1 AND attempt = $2 AND gpus > 0`,
    [jobId, attempt, Math.min(1, Math.max(0, u.idleFraction))],
  );
}
