import type { DataSource, EntityManager } from 'typeorm';

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
  const month = now.toISOString().slice(0, 7);
  const monthStart = new Date(`${month}-01T00:00:00.000Z`);
  const rows: (Omit<ProjectStanding, 'month'>)[] = await db.query(
    `SELECT p.name, p.gpu_quota AS "gpuQuota", p.monthly_budget::text AS "monthlyBudget", p.currency,
            (SELECT COALESCE(sum(u.cost), 0)::numeric(18,6)::text FROM usage u
             WHERE u.project = p.name AND u.currency = p.currency AND u.started_at >= $1) AS "spentThisMonth"
     FROM projects p ${names ? 'WHERE p.name = ANY($2)' : ''} ORDER BY p.name`,
    names ? [monthStart, names] : [monthStart],
  );
  return rows.map((r) => ({ ...r, month }));
}
