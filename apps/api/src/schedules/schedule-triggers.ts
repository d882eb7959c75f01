import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { QueueNames, type ScheduleFiringPayload } from '#libs/queue';
import { LOGGER, REDIS } from '../infra/tokens.js';

// BullMQ waits forever for a Redis that has not answered since start; a request must not.
const REDIS_CALL_TIMEOUT_MS = 3000;

/** What Redis holds for one schedule: its BullMQ job scheduler. */
export interface Trigger {
  pattern: string;
  tz: string;
}

/**
 * The `schedules` queue's job schedulers, one per ACTIVE schedule (id = the
 * schedule's name). BullMQ adds one delayed job per tick whatever the number
 * of API replicas, and one consumer takes it.
 */
@Injectable()
export class ScheduleTriggers implements OnApplicationShutdown {
  private readonly queue: Queue<ScheduleFiringPayload>;

  constructor(@Inject(REDIS) redis: Redis, @Inject(LOGGER) logger: Logger) {
    this.queue = new Queue<ScheduleFiringPayload>(QueueNames.schedules, { connection: redis });
    // Without a listener BullMQ prints every connection error to the console.
    this.queue.on('error', (err) => logger.warn({ err }, 'schedules queue: Redis error'));
  }

  /** Creates or replaces the schedule's job scheduler; its next tick is computed from now. */
  async set(schedule: { name: string; cron: string; timezone: string }): Promise<void> {
    await bounded('upsertJobScheduler', this.queue.upsertJobScheduler(schedule.name, { pattern: schedule.cron, tz: schedule.timezone }, {
      name: 'fire',
      data: { schedule: schedule.name },
      opts: {
        // Retries are safe: a firing's clientToken makes a repeated submit return the same job.
        attempts: 3,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: { count: 1000 },
      },
    }));
  }

  /** Removes the job scheduler and its pending tick; a no-op when there is none. */
  async remove(name: string): Promise<void> {
    await bounded('removeJobScheduler', this.queue.removeJobScheduler(name));
  }

  /** Every job scheduler Redis holds, by schedule name. */
  async list(): Promise<Map<string, Trigger>> {
    const schedulers = await bounded('getJobSchedulers', this.queue.getJobSchedulers(0, -1));
    return new Map(schedulers.map((s) => [s.key, { pattern: s.pattern ?? '', tz: s.tz ?? '' }]));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}

function bounded<T>(call: string, pending: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer ${call} within ${REDIS_CALL_TIMEOUT_MS} ms`)), REDIS_CALL_TIMEOUT_MS);
  });
  return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
}
