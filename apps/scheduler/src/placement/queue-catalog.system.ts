import type { DataSource } from 'typeorm';
import type { CapacityType } from '#libs/core';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import type { QueueRow } from './placement-pass.js';

/** The job queues and priced pools, read every pass: intake follows the queues, placement uses both. */
export class QueueCatalogSystem implements SchedulerSystem {
  readonly name = 'queue catalog';
  readonly essential = true;
  private seen = '';
  queues: QueueRow[] = [];
  capacityTypes: ReadonlyMap<string, CapacityType> = new Map();
  /** Pools whose admins allow multi-node jobs (host-network containers). */
  multiNodePools: ReadonlySet<string> = new Set();

  constructor(private readonly db: DataSource) {}

  async run(): Promise<boolean> {
    const [queues, pools]: [QueueRow[], { name: string; capacity_type: CapacityType; allow_multi_node: boolean }[]] = await Promise.all([
      this.db.query(`SELECT name, priority, pools, scheduling_policy, prefer_spot_for_interruptible, preempt_lower_priority FROM job_queues`),
      this.db.query(`SELECT name, capacity_type, allow_multi_node FROM pools`),
    ]);
    this.queues = queues;
    this.capacityTypes = new Map(pools.map((p) => [p.name, p.capacity_type]));
    this.multiNodePools = new Set(pools.filter((p) => p.allow_multi_node).map((p) => p.name));
    const seen = JSON.stringify([queues, pools]);
    const changed = seen !== this.seen;
    this.seen = seen;
    return changed;
  }
}
