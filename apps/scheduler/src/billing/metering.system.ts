import type { DataSource } from 'typeorm';
import { Cadence } from '#libs/core';
import type { Logger } from '#libs/log';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import { accrueRunningUsage } from './metering.js';

/** Brings running attempts' usage and cost up to date every `usageAccrualSeconds`. */
export class MeteringSystem implements SchedulerSystem {
  readonly name = 'metering';
  private readonly cadence: Cadence;

  constructor(private readonly db: DataSource, accrualSeconds: number, startedAt: number, private readonly logger: Logger) {
    this.cadence = new Cadence(accrualSeconds * 1000, startedAt);
  }

  async run(now: number): Promise<boolean> {
    if (!this.cadence.due(now)) return false;
    // Billing must never stop placement: a failure is logged and retried on the next due run.
    await accrueRunningUsage(this.db, new Date(now)).catch((err: Error) => this.logger.error({ err }, 'usage accrual failed'));
    return false;
  }
}
