import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { UsageFigures, UsageReport } from './dto/usage.dto.js';
import { parseGroupBy, parsePeriod, splitByDays } from './usage-report.js';

interface FigureRow {
  is_total: boolean; currency: string; attempts: number; gpu_hours: number; idle_gpu_hours: number; vcpu_hours: number; memory_gib_hours: number;
  cost: string; includes_running: boolean; [key: `g${number}`]: string | null;
}

@Injectable()
export class UsageService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /**
   * Billed usage in a period, grouped. Whole days come from the daily rollup
   * (kept exact by a trigger on the usage table), the partial days at the
   * ends from the usage rows. Groups and per-currency totals come from one
   * aggregation (GROUPING SETS), so totals are the exact sum of the rows.
   */
  async report(query: { from?: string; to?: string; groupBy?: string }, now = new Date(), projects: string[] | null = null): Promise<UsageReport> {
    const period = parsePeriod(query.from, query.to, now);
    const { wholeFrom, wholeTo } = splitByDays(period);
    const grouping = parseGroupBy(query.groupBy, 5);
    const groupColumns = grouping.expressions.map((_, i) => `g${i}`);
    const keysOf = (source: 'rollup' | 'rows') => grouping.expressions.map((e, i) => `${e[source]} AS g${i}, `).join('');
    const grouped = groupColumns.length > 0;
    // Only the keys asked for leave each source: narrow rows keep the aggregation in memory.
    const rows: FigureRow[] = await this.db.transaction(async (tx) => {
      // A month of rollup rows hashes in well under this; the default 4 MB would sort them on disk.
      // JIT compiles for longer than this query runs.
      await tx.query(`SET LOCAL work_mem = '64MB'; SET LOCAL jit = off`);
      return tx.query(
        `WITH source AS (
           SELECT currency, ${keysOf('rollup')} attempts, running, gpu_seconds, vcpu_seconds, memory_mib_seconds, cost, idle_gpu_seconds
           FROM usage_daily
           WHERE day >= ($3::timestamptz AT TIME ZONE 'UTC')::date AND day < ($4::timestamptz AT TIME ZONE 'UTC')::date AND attempts <> 0
             AND ($5::text[] IS NULL OR project = ANY($5::text[]))
           UNION ALL
           SELECT currency, ${keysOf('rows')} 1, running::int, gpus::bigint * billed_seconds, vcpus * billed_seconds,
                  memory_mib::bigint * billed_seconds, cost, idle_gpu_seconds
           FROM usage WHERE ((started_at >= $1 AND started_at < $3) OR (started_at >= $4 AND started_at < $2))
             AND ($5::text[] IS NULL OR project = ANY($5::text[]))),
         -- Grouped first with plain sums, then the grouping sets over those few groups:
         -- sums of exact sums, so the totals still equal the rows.
         grouped AS (
           SELECT ${['currency', ...groupColumns].join(', ')}, sum(attempts) AS attempts, sum(running) AS running,
                  sum(gpu_seconds) AS gpu_seconds, sum(vcpu_seconds) AS vcpu_seconds, sum(memory_mib_seconds) AS memory_mib_seconds,
                  sum(cost) AS cost, sum(idle_gpu_seconds) AS idle_gpu_seconds
           FROM source GROUP BY ${['currency', ...groupColumns].join(', ')})
         SELECT ${grouped ? `GROUPING(${groupColumns.join(', ')}) <> 0` : 'true'} AS is_total, currency, ${[...groupColumns, ''].join(', ')}
                sum(attempts)::int AS attempts,
                round(sum(gpu_seconds) / 3600.0, 6)::float8 AS gpu_hours,
                round(sum(idle_gpu_seconds) / 3600.0, 6)::float8 AS idle_gpu_hours,
                round(sum(vcpu_seconds) / 3600.0, 6)::float8 AS vcpu_hours,
                round(sum(memory_mib_seconds) / 1024.0 / 3600.0, 6)::float8 AS memory_gib_hours,
                sum(cost)::text AS cost, sum(running) > 0 AS includes_running
         FROM grouped
         GROUP BY ${grouped ? `GROUPING SETS ((${['currency', ...groupColumns].join(', ')}), (currency))` : 'currency'}
         ORDER BY is_total, ${[...groupColumns, 'currency'].join(', ')}`,
        [period.from, period.to, wholeFrom, wholeTo, projects, ...grouping.params],
      );
    });
    const figures = (r: FigureRow): UsageFigures => ({
      attempts: r.attempts, gpuHours: r.gpu_hours, idleGpuHours: r.idle_gpu_hours, vcpuHours: r.vcpu_hours, memoryGiBHours: r.memory_gib_hours,
      currency: r.currency.trim(), cost: r.cost, includesRunning: r.includes_running,
    });

    const interrupted: { pool: string; attempts: number; gpu_hours: number }[] = await this.db.query(
      `SELECT u.pool, count(*)::int AS attempts, round(sum(u.gpus::bigint * u.billed_seconds) / 3600.0, 6)::float8 AS gpu_hours
       FROM usage u JOIN job_attempts a ON a.job_id = u.job_id AND a.attempt = u.attempt
       WHERE a.status = 'INTERRUPTED' AND u.started_at >= $1 AND u.started_at < $2 AND ($3::text[] IS NULL OR u.project = ANY($3::text[]))
       GROUP BY u.pool ORDER BY u.pool`,
      [period.from, period.to, projects],
    );

    return {
      from: period.from.toISOString(),
      to: period.to.toISOString(),
      groupBy: grouping.keys,
      interruptedByPool: interrupted.map((r) => ({ pool: r.pool, attempts: r.attempts, gpuHours: r.gpu_hours })),
      rows: rows.filter((r) => !r.is_total).map((r) => ({ ...Object.fromEntries(grouping.keys.map((k, i) => [k, r[`g${i}`]])), ...figures(r) })),
      totals: rows.filter((r) => r.is_total).map(figures),
    };
  }
}
