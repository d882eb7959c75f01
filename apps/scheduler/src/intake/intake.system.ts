import type { DataSource } from 'typeorm';
import { Cadence } from '#libs/core';
import type { DispatchPayload, WorkerQueues } from '#libs/queue';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import type { QueueCatalogSystem } from '../placement/queue-catalog.system.js';
import { loadRunnable, staleStartingAttempts, syncRunnable } from '../reconciler/rebuild.js';
import type { ClusterState } from '../state/cluster-state.js';
import type { IntakeConsumers } from './intake-consumers.js';

// RUNNABLE jobs whose intake add was lost (Redis blip after commit), and dispatch entries lost the same way, are found by this sweep.
const SWEEP_EVERY_MS = 30_000;

/**
 * Brings submitted jobs into the leader's model: follows every job queue's
 * intake, loads what arrived, and sweeps Postgres for what intake missed.
 */
export class IntakeSystem implements SchedulerSystem {
  readonly name = 'intake';
  readonly essential = true;
  private readonly sweep: Cadence;

  constructor(
    private readonly db: DataSource,
    private readonly state: ClusterState,
    private readonly intake: IntakeConsumers,
    private readonly catalog: QueueCatalogSystem,
    private readonly dispatcher: WorkerQueues,
    startedAt: number,
    /** Completes re-added dispatch entries as placement does (container policy, secrets): a lost entry comes back whole. */
    private readonly complete: (payloads: DispatchPayload[]) => Promise<void> = async () => {},
  ) {
    // The model was just rebuilt from Postgres: the first sweep is a period away.
    this.sweep = new Cadence(SWEEP_EVERY_MS, startedAt, SWEEP_EVERY_MS);
  }

  async run(now: number): Promise<boolean> {
    let changed = false;
    await this.intake.follow(this.catalog.queues.map((q) => q.name));
    if (this.sweep.due(now)) {
      const stale = await staleStartingAttempts(this.db, SWEEP_EVERY_MS / 1000);
      await this.complete([...stale.values()].flat());
      await this.dispatcher.dispatchAll(stale);
      changed = await syncRunnable(this.db, this.state);
    }
    const arrived = this.intake.drain();
    if (arrived.length > 0) await loadRunnable(this.db, this.state, arrived);
    return changed;
  }
}
