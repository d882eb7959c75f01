import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { UsageFigures, UsageReport } from './dto/usage.dto.js';
import { parseGroupBy, parsePeriod } from './usage-report.js';

interface FigureRow {
  is_total: boolean; currency: string; attempts: number; gpu_hours: number; vcpu_hours: number; memory_gib_hours: number;
  cost: string; includes_running: boolean; [key: `g${number}`]: string | null;
}

@Injectable()
export class UsageService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /**
   * Billed usage in a period, grouped. Groups and per-currency totals come
   * from one scan (GROUPING SETS), so totals are the exact sum of the rows.
   */
  async report(query: { from?: string; to?: string; groupBy?: string }, now = new Date()): Promise<UsageReport> {
    const period = parsePeriod(query.from, query.to, now);
    const grouping = parseGroupBy(query.groupBy, 2);
    const keys = grouping.expressions.map((e, i) => `${e} AS g${i}`);
    const groupColumns = grouping.expressions.map((_, i) => `g${i}`);
    const grouped = groupColumns.length > 0;
    const rows: FigureRow[] = await this.db.query(
      `WITH u AS (
         SELECT currency, ${[...keys, ''].join(', ')} gpus, vcpus, memory_mib, billed_seconds, cost, running
         FROM usage WHERE started_at >= $1 AND started_at < $2)
       SELECT ${grouped ? `GROUPING(${groupColumns.join(', ')}) <> 0` : 'true'} AS is_total, currency, ${[...groupColumns, ''].join(', ')}
              count(*)::int AS attempts,
              round(sum(gpus * billed_seconds) / 3600.0, 6)::float8 AS gpu_hours,
              round(sum(vcpus * billed_seconds) / 3600.0, 6)::float8 AS vcpu_hours,
              round(sum(memory_mib::numeric * billed_seconds) / 1024.0 / 3600.0, 6)::float8 AS memory_gib_hours,
              sum(cost)::text AS cost, bool_or(running) AS includes_running
       FROM u
       GROUP BY ${grouped ? `GROUPING SETS ((${['currency', ...groupColumns].join(', ')}), (currency))` : 'currency'}
       ORDER BY is_total, ${[...groupColumns, 'currency'].join(', ')}`,
      [period.from, period.to, ...grouping.params],
    );
    const figures = (r: FigureRow): UsageFigures => ({
      attempts: r.attempts, gpuHours: r.gpu_hours, vcpuHours: r.vcpu_hours, memoryGiBHours: r.memory_gib_hours,
      currency: r.currency.trim(), cost: r.cost, includesRunning: r.includes_running,
    });

    return {
      from: period.from.toISOString(),
      to: period.to.toISOString(),
      groupBy: grouping.keys,
      rows: rows.filter((r) => !r.is_total).map((r) => ({ ...Object.fromEntries(grouping.keys.map((k, i) => [k, r[`g${i}`]])), ...figures(r) })),
      totals: rows.filter((r) => r.is_total).map(figures),
    };
  }
}
