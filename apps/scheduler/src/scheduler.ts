import { ConfigError, type SchedulerConfig } from '#libs/config';
import { createDataSource, runMigrations, takeLeadership } from '#libs/db';
import { systemClock } from '#libs/core';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis } from '#libs/queue';
import { SchedulerCoordinator } from './coordinator/scheduler-coordinator.js';
import { LeaderLease } from './leader/leader-lease.js';
import { schedulerMetrics } from './metrics/scheduler-metrics.js';

/** Starts a scheduler replica: it leads when it holds the lease and stands by otherwise. */
export async function startScheduler(config: SchedulerConfig, logger: Logger): Promise<{ stop(): Promise<void>; isLeader(): boolean }> {
  const db = createDataSource(config.databaseUrl, 10);
  await db.initialize();
  await runMigrations(db);
  if (!config.secrets) {
    const [{ pending }] = await db.query(
      `SELECT EXISTS (SELECT 1 FROM jobs WHERE secret_environment <> '{}' AND status NOT IN ('SUCCEEDED', 'FAILED')) AS pending`,
    );
    if (pending) {
      await db.destroy();
      throw new ConfigError('GPUBATCH_SECRET_KEY', 'is required: unfinished jobs have secret environment values, which only this key opens');
    }
  }
  const redis = createRedis(config.redisUrl, 'scheduler');
  // Fail-fast: a renewal that waits out a partition would outlive the lease it renews.
  const leaseRedis = createRedis(config.redisUrl, 'scheduler-lease', 'request');
  let loop: SchedulerCoordinator | undefined;
  const lease = new LeaderLease(leaseRedis, {
    onAcquired: async () => {
      // A new epoch before anything is read: from now on no write of an earlier leader can commit.
      const fence = await takeLeadership(db, lease.holderId);
      logger.info({ epoch: fence.epoch }, 'leadership epoch taken');
      loop = new SchedulerCoordinator(db, redis, config, logger, () => lease.isValid(), systemClock, {
        fence,
        onFenced: () => void lease.resign('a newer leader holds the epoch'),
      });
      await loop.start();
    },
    onLost: async () => {
      await loop?.stop();
      loop = undefined;
    },
  }, logger);
  lease.start();
  schedulerMetrics.watch(() => lease.isLeader, () => loop?.heartbeats() ?? []);
  return {
    isLeader: () => lease.isLeader,
    stop: async () => {
      await lease.stop();
      await Promise.all([closeRedis(redis), closeRedis(leaseRedis)]);
      await db.destroy();
    },
  };
}
