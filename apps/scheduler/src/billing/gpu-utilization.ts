import type { EntityManager } from 'typeorm';
import type { GpuUtilizationSummary } from '#libs/core';

/**
 * Keeps what a worker sampled of an attempt's GPUs: the averages and peaks
 * on the attempt, and the idle GPU-seconds (its billed GPU-seconds times the
 * share of samples under 5% busy) on its usage row, which the rollup
 * trigger carries into reports. Called once, with the settled usage row.
 */
export async function recordGpuUtilization(tx: EntityManager, jobId: string, attempt: number, u: GpuUtilizationSummary): Promise<void> {
  await recordGpuUtilizations(tx, [{ jobId, attempt, utilization: u }]);
}

/** `recordGpuUtilization` for many attempts: one update of the attempts, one of their usage rows. */
export async function recordGpuUtilizations(
  tx: EntityManager, samples: readonly { jobId: string; attempt: number; utilization: GpuUtilizationSummary }[],
): Promise<void> {
  if (samples.length === 0) return;
  const ids = samples.map((s) => s.jobId);
  const attempts = samples.map((s) => s.attempt);
  const u = samples.map((s) => s.utilization);
  await tx.query(
    `UPDATE job_attempts a SET gpu_util_samples = x.samples, gpu_util_avg = x.avg, gpu_util_peak = x.peak, gpu_memory_avg_mib = x.mem_avg,
            gpu_memory_peak_mib = x.mem_peak, gpu_idle_fraction = x.idle
     FROM unnest($1::text[], $2::int[], $3::int[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[])
          AS x(job_id, attempt, samples, avg, peak, mem_avg, mem_peak, idle)
     WHERE a.job_id = x.job_id AND a.attempt = x.attempt`,
    [ids, attempts, u.map((x) => x.samples), u.map((x) => x.avgPercent), u.map((x) => x.peakPercent), u.map((x) => x.avgMemoryMiB),
      u.map((x) => x.peakMemoryMiB), u.map((x) => x.idleFraction)],
  );
  await tx.query(
    `UPDATE usage u SET idle_gpu_seconds = round(u.gpus::numeric * u.billed_seconds * x.idle)::bigint
     FROM unnest($1::text[], $2::int[], $3::float8[]) AS x(job_id, attempt, idle)
     WHERE u.job_id = x.job_id AND u.attempt = x.attempt AND u.gpus > 0`,
    [ids, attempts, u.map((x) => Math.min(1, Math.max(0, x.idleFraction)))],
  );
}
