import type { DataSource, EntityManager } from 'typeorm';
import { billingMonth } from '#libs/core';

export interface ProjectStanding {
  name: string;
  gpuQuota: number | null;
  monthlyBudget: string | null;
  currency: string;
  /** Billed this calendar month (UTC) in the budget's currency, running attempts' accrual included. */
  spentThisMonth: string;
  /** `2026-11` */
  month: string;
}

/**
 * Projects with what they spent this month. A usage row counts in the month
 * its attempt started, as it does in usage reports.
 */
export async function projectStandings(db: DataSource | EntityManager, now: Date, names?: string[]): Promise<ProjectStanding[]> {
  const { month, start: monthStart } = billingMonth(now);
  const rows: (Omit<ProjectStanding, 'month'>)[] = await db.query(
    `SELECT p.name, p.gpu_quota AS "gpuQuota", p.monthly_budget::text AS "monthlyBudget", p.currency,
            (SELECT round(COALESCE(sum(d.cost), 0), 6)::text FROM usage_daily d
             WHERE d.project = p.name AND d.currency = p.currency AND d.day >= ($1::timestamptz AT TIME ZONE 'UTC')::date) AS "spentThisMonth"
     FROM projects p ${names ? 'WHERE p.name = ANY($2)' : ''} ORDER BY p.name`,
    names ? [monthStart, names] : [monthStart],
  );
  return rows.map((r) => ({ ...r, month }));
}
