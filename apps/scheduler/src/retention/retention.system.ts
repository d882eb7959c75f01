import type { DataSource } from 'typeorm';
import { Cadence } from '#libs/core';
import type { Logger } from '#libs/log';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import { sweepFinishedJobs } from './retention-sweep.js';

const SWEEP_EVERY_MS = 600_000;
// The first sweep a minute after taking the lead, not in the middle of a rebuild.
const FIRST_SWEEP_AFTER_MS = 60_000;

/** Removes finished jobs past retention, a bounded batch per sweep. Runs beside the passes: no pass reads finished jobs. */
export class RetentionSystem implements SchedulerSystem {
  readonly name = 'retention';
  private readonly cadence: Cadence;

  constructor(private readonly db: DataSource, private readonly retentionDays: number, startedAt: number, private readonly logger: Logger) {
    this.cadence = new Cadence(SWEEP_EVERY_MS, startedAt, FIRST_SWEEP_AFTER_MS);
  }

  async run(now: number): Promise<boolean> {
    if (!this.cadence.due(now)) return false;
    const removed = await sweepFinishedJobs(this.db, new Date(now - this.retentionDays * 86_400_000));
    if (removed) this.logger.info({ removed, retentionDays: this.retentionDays }, 'removed finished jobs past retention');
    return false;
  }
}
