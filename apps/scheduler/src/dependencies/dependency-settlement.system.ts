import type { DataSource } from 'typeorm';
import { Cadence } from '#libs/core';
import { settleDependants } from '#libs/db';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import { loadRunnable } from '../reconciler/rebuild.js';
import type { ClusterState } from '../state/cluster-state.js';

const SETTLE_EVERY_MS = 30_000;

/**
 * The periodic sweep over every PENDING job: wakes those whose dependencies
 * all succeeded and fails those behind a failed one. Reports settle their
 * own dependants at once; this catches what a crash between the two left.
 */
export class DependencySettlementSystem implements SchedulerSystem {
  readonly name = 'dependency settlement';
  private readonly cadence: Cadence;

  constructor(private readonly db: DataSource, private readonly state: ClusterState, startedAt: number) {
    this.cadence = new Cadence(SETTLE_EVERY_MS, startedAt, SETTLE_EVERY_MS);
  }

  async run(now: number): Promise<boolean> {
    if (!this.cadence.due(now)) return false;
    const runnable = await settleDependants(this.db);
    if (runnable.length) await loadRunnable(this.db, this.state, runnable);
    return runnable.length > 0;
  }
}
