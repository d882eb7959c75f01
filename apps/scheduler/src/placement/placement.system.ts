import type { DataSource } from 'typeorm';
import { Cadence, type SchedulingPolicy } from '#libs/core';
import type { Logger } from '#libs/log';
import type { ProjectLimitsSystem } from '../projects/project-limits.system.js';
import type { PlacementPass } from './placement-pass.js';
import type { QueueCatalogSystem } from './queue-catalog.system.js';

// Fair-share usage moves slowly (half-lives of days): re-read it this often.
const FAIR_SHARE_REFRESH_MS = 60_000;
// Running jobs pass their minimum runtime as time goes by, with nothing else changing: a queue that may preempt is looked at this often.
const PREEMPTION_RECHECK_MS = 2_000;

/**
 * Runs the placement pass when something changed since the last one, with
 * the catalog, project limits and fair-share usage the other systems keep.
 * Places nothing while this replica cannot be sure it leads.
 */
export class PlacementSystem {
  readonly name = 'placement';
  private readonly fairShareRefresh: Cadence;
  private readonly preemptionRecheck: Cadence;
  private fairShare: SchedulingPolicy['fairShare'];

  constructor(
    private readonly db: DataSource,
    private readonly pass: PlacementPass,
    private readonly catalog: QueueCatalogSystem,
    private readonly projects: ProjectLimitsSystem,
    private readonly config: { fairShareHalfLifeSeconds: number; fairShareWeights: Map<string, number> },
    private readonly leaseValid: () => boolean,
    startedAt: number,
    private readonly logger: Logger,
  ) {
    this.fairShareRefresh = new Cadence(FAIR_SHARE_REFRESH_MS, startedAt);
    this.preemptionRecheck = new Cadence(PREEMPTION_RECHECK_MS, startedAt);
  }

  /** Places what it can; false when placement was owed but held back, or reasons are left to write (the next pass goes on). */
  async run(now: number, changed: boolean): Promise<boolean> {
    if (this.catalog.queues.some((q) => q.scheduling_policy === 'FAIR_SHARE') && this.fairShareRefresh.due(now)) {
      this.fairShare = { usage: await this.projectUsage(), weights: this.config.fairShareWeights };
      changed = true;
    }
    if (this.catalog.queues.some((q) => q.preempt_lower_priority) && this.preemptionRecheck.due(now)) changed = true;
    // Nothing new since the last pass: the same inputs would give the same placements (none) and reasons.
    if (!changed) return true;
    if (!this.leaseValid()) {
      this.logger.warn('lease not renewed in time: placing nothing until it is');
      return false;
    }
    const placed = await this.pass.run({
      queues: this.catalog.queues, capacityTypes: this.catalog.capacityTypes, projects: this.projects.limits, fairShare: this.fairShare,
      multiNodePools: this.catalog.multiNodePools,
    }, now);
    if (placed > 0) this.logger.debug({ placed }, 'placed jobs');
    // Reasons left to write: the next pass writes more (the core reuses this one's outcome if nothing else changed).
    return !this.pass.reasonsBehind;
  }

  /** Decayed GPU-seconds per project from the usage rows: Slurm-style fair share. */
  private async projectUsage(): Promise<Map<string, number>> {
    const halfLife = this.config.fairShareHalfLifeSeconds;
    const rows: { project: string; usage: number }[] = await this.db.query(
      `SELECT project, sum(gpus * billed_seconds * power(0.5, extract(epoch FROM now() - stopped_at) / $1))::float8 AS usage
       FROM usage WHERE started_at > now() - make_interval(secs => $1 * 10)
       GROUP BY project`,
      [halfLife],
    );
    return new Map(rows.map((r) => [r.project, r.usage]));
  }
}
