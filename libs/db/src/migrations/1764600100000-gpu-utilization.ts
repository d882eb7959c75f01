import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * GPU utilisation per attempt, as its worker sampled it (nvidia-smi): the
 * averages and peaks on the attempt, and the GPU-seconds it held idly
 * (under 5% busy) on its usage row and in the daily rollup, which the
 * trigger keeps exact as before.
 */
export class GpuUtilization1764600100000 implements MigrationInterface {
  name = 'GpuUtilization1764600100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE job_attempts
        ADD COLUMN gpu_util_samples integer,
        ADD COLUMN gpu_util_avg double precision,
        ADD COLUMN gpu_util_peak double precision,
        ADD COLUMN gpu_memory_avg_mib double precision,
        ADD COLUMN gpu_memory_peak_mib double precision,
        ADD COLUMN gpu_idle_fraction double precision;
      ALTER TABLE usage ADD COLUMN idle_gpu_seconds bigint NOT NULL DEFAULT 0;
      ALTER TABLE usage_daily ADD COLUMN idle_gpu_seconds bigint NOT NULL DEFAULT 0;

      CREATE OR REPLACE FUNCTION usage_daily_add(u usage, sign integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO usage_daily AS d (day, currency, project, queue, definition, pool, gpu_model, tags_hash, tags,
                                      attempts, running, gpu_seconds, vcpu_seconds, memory_mib_seconds, cost, idle_gpu_seconds)
        VALUES ((u.started_at AT TIME ZONE 'UTC')::date, u.currency, u.project, u.queue, u.definition, u.pool,
                COALESCE(u.gpu_model, ''), md5(u.tags::text), u.tags,
                sign, sign * u.running::int, sign * u.gpus::bigint * u.billed_seconds, sign * u.vcpus * u.billed_seconds,
                sign * u.memory_mib::bigint * u.billed_seconds, sign * u.cost, sign * u.idle_gpu_seconds)
        ON CONFLICT (day, currency, project, queue, definition, pool, gpu_model, tags_hash) DO UPDATE SET
          attempts = d.attempts + EXCLUDED.attempts, running = d.running + EXCLUDED.running,
          gpu_seconds = d.gpu_seconds + EXCLUDED.gpu_seconds, vcpu_seconds = d.vcpu_seconds + EXCLUDED.vcpu_seconds,
          memory_mib_seconds = d.memory_mib_seconds + EXCLUDED.memory_mib_seconds, cost = d.cost + EXCLUDED.cost,
          idle_gpu_seconds = d.idle_gpu_seconds + EXCLUDED.idle_gpu_seconds
      $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION usage_daily_add(u usage, sign integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO usage_daily AS d (day, currency, project, queue, definition, pool, gpu_model, tags_hash, tags,
                                      attempts, running, gpu_seconds, vcpu_seconds, memory_mib_seconds, cost)
        VALUES ((u.started_at AT TIME ZONE 'UTC')::date, u.currency, u.project, u.queue, u.definition, u.pool,
                COALESCE(u.gpu_model, ''), md5(u.tags::text), u.tags,
                sign, sign * u.running::int, sign * u.gpus::bigint * u.billed_seconds, sign * u.vcpus * u.billed_seconds,
                sign * u.memory_mib::bigint * u.billed_seconds, sign * u.cost)
        ON CONFLICT (day, currency, project, queue, definition, pool, gpu_model, tags_hash) DO UPDATE SET
          attempts = d.attempts + EXCLUDED.attempts, running = d.running + EXCLUDED.running,
          gpu_seconds = d.gpu_seconds + EXCLUDED.gpu_seconds, vcpu_seconds = d.vcpu_seconds + EXCLUDED.vcpu_seconds,
          memory_mib_seconds = d.memory_mib_seconds + EXCLUDED.memory_mib_seconds, cost = d.cost + EXCLUDED.cost
      $$;
      ALTER TABLE usage_daily DROP COLUMN idle_gpu_seconds;
      ALTER TABLE usage DROP COLUMN idle_gpu_seconds;
      ALTER TABLE job_attempts DROP COLUMN gpu_util_samples, DROP COLUMN gpu_util_avg, DROP COLUMN gpu_util_peak,
        DROP COLUMN gpu_memory_avg_mib, DROP COLUMN gpu_memory_peak_mib, DROP COLUMN gpu_idle_fraction;
    `);
  }
}
