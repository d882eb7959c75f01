import type { DataSource } from 'typeorm';
import { Cadence, compareMoney } from '#libs/core';
import { projectStandings } from '#libs/db';
import type { Logger } from '#libs/log';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import type { PassContext } from '../placement/placement-pass.js';

// Month-to-date spend moves with every accrual: it is re-read this often. Limits themselves are re-read as soon as they change.
const SPEND_REFRESH_MS = 10_000;

/**
 * GPU quotas and spent budgets by project, for placement. Every pass reads a
 * digest of the projects' limits (a handful of rows): a project created or
 * changed through the API is enforced by the next placement, not seconds
 * later. Runs after intake, so a job is never placed under limits older
 * than the project it was submitted to.
 */
export class ProjectLimitsSystem implements SchedulerSystem {
  readonly name = 'project limits';
  private readonly spendRefresh: Cadence;
  private digestSeen: string | undefined;
  private decisionsSeen = '';
  limits: PassContext['projects'] = new Map();

  constructor(private readonly db: DataSource, startedAt: number, private readonly logger: Logger) {
    this.spendRefresh = new Cadence(SPEND_REFRESH_MS, startedAt);
  }

  async run(now: number): Promise<boolean> {
    try {
      const [{ digest }]: { digest: string }[] = await this.db.query(
        `SELECT md5(COALESCE(string_agg(concat_ws('/', name, COALESCE(gpu_quota::text, '-'), COALESCE(monthly_budget::text, '-'), currency), ',' ORDER BY name), '')) AS digest FROM projects`,
      );
      const limitsChanged = digest !== this.digestSeen;
      if (!limitsChanged && !this.spendRefresh.due(now)) return false;
      const changed = await this.read(now);
      this.digestSeen = digest;
      return changed;
    } catch (err) {
      // The limits last read stay in force.
      this.logger.error({ err }, 'reading project budgets and quotas failed');
      return false;
    }
  }

  /** True when a quota or a spent budget changed. */
  private async read(now: number): Promise<boolean> {
    const projects: PassContext['projects'] = new Map(
      (await projectStandings(this.db, new Date(now)))
        .filter((p) => p.gpuQuota !== null || p.monthlyBudget !== null)
        .map((p) => [p.name, {
          gpuQuota: p.gpuQuota,
          budgetSpent: p.monthlyBudget !== null && compareMoney(p.spentThisMonth, p.monthlyBudget) >= 0
            ? { spent: p.spentThisMonth, budget: p.monthlyBudget, currency: p.currency, month: p.month }
            : undefined,
        }]),
    );
    // Only what changes a decision counts as a change, not every cent spent.
    const seen = JSON.stringify([...projects].map(([name, p]) => [name, p.gpuQuota, p.budgetSpent ? [p.budgetSpent.budget, p.budgetSpent.month] : null]));
    this.limits = projects;
    const changed = seen !== this.decisionsSeen;
    this.decisionsSeen = seen;
    return changed;
  }
}
