import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import type { ApiConfig } from '#libs/config';
import { ScheduleEntity } from '#libs/db';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis, QueueNames, type ScheduleFiringPayload } from '#libs/queue';
import { ApiError } from '../common/api-error.js';
import { API_CONFIG, LOGGER } from '../infra/tokens.js';
import type { SubmitJobDto } from '../jobs/dto/submit-job.dto.js';
import { JobsService } from '../jobs/jobs.service.js';
import { ScheduleTriggers } from './schedule-triggers.js';
import { SchedulesService } from './schedules.service.js';

/** The tag every job a schedule submits carries: its schedule's name. */
export const SCHEDULE_TAG = 'gpubatch:schedule';

/** How often each API replica makes Redis's job schedulers match Postgres again. */
const RECONCILE_EVERY_MS = 60_000;

/** The clientToken of one tick of one schedule: a repeated delivery of that tick returns the job the first one submitted. */
export function firingToken(schedule: string, tickMillis: number): string {
  // Names run to 128 characters and tokens to 64: hash the name.
  return `schedule-${createHash('sha256').update(schedule).digest('hex').slice(0, 32)}-${tickMillis}`;
}

/**
 * Consumes the `schedules` queue inside the API: each tick submits the
 * schedule's job through JobsService, exactly as POST /api/v1/jobs does.
 * Every replica runs one; BullMQ hands each tick to one of them. On start
 * (and every minute) it re-arms Redis from Postgres, so losing Redis loses
 * no schedule.
 */
@Injectable()
export class ScheduleFiringProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private connection?: Redis;
  private worker?: Worker<ScheduleFiringPayload>;
  private running?: Promise<void>;
  private reconcileTimer?: NodeJS.Timeout;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobsService) private readonly jobs: JobsService,
    @Inject(SchedulesService) private readonly schedules: SchedulesService,
    @Inject(ScheduleTriggers) private readonly triggers: ScheduleTriggers,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    // Not awaited, like the worker below: the API starts and serves while Redis is away.
    void this.reconcile();
    this.reconcileTimer = setInterval(() => void this.reconcile(), RECONCILE_EVERY_MS).unref();
    // Its own connection: BullMQ's blocking fetch must not wait behind request traffic.
    this.connection = createRedis(this.config.redisUrl, 'api-schedules');
    this.worker = new Worker<ScheduleFiringPayload>(QueueNames.schedules, (job) => this.process(job), {
      connection: this.connection,
      concurrency: 4,
      autorun: false,
    });
    this.worker.on('error', (err) => this.logger.error({ err }, 'schedules consumer error'));
    this.worker.on('failed', (job, err) =>
      this.logger.warn({ err, schedule: job?.data.schedule, tick: job?.opts.prevMillis, attempt: job?.attemptsMade }, 'a schedule firing failed'),
    );
    this.running = this.worker.run().catch((err: Error) => this.logger.error({ err }, 'schedules consumer stopped'));
  }

  /** Before the HTTP server and Postgres close: a firing in progress finishes its submit. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.reconcileTimer);
    // Without Redis no firing can be in progress, and a graceful close (or run()) would wait for Redis forever.
    const force = this.connection?.status !== 'ready';
    if (force) this.connection?.disconnect();
    await this.worker?.close(force);
    if (!force) await this.running;
    if (this.connection) await closeRedis(this.connection);
  }

  private async reconcile(): Promise<void> {
    try {
      const { armed, disarmed } = await this.schedules.reconcile();
      if (armed.length + disarmed.length > 0) this.logger.info({ armed, disarmed }, 'schedules re-armed from Postgres');
    } catch (err) {
      this.logger.warn({ err }, 'reconciling schedules with Redis failed; retrying in a minute');
    }
  }

  private async process(job: Job<ScheduleFiringPayload>): Promise<void> {
    const name = job.data.schedule;
    // BullMQ's tick time for this job (its id is `repeat:<scheduler>:<tick>`); the same on every delivery.
    const tick = job.opts.prevMillis;
    if (typeof tick !== 'number') throw new UnrecoverableError(`schedules job ${job.id} carries no tick time`);

    const schedule = await this.db.getRepository(ScheduleEntity).findOneBy({ name });
    if (!schedule || schedule.state !== 'ACTIVE') {
      // Postgres says it must not fire (deleted or paused while Redis kept it): drop the stale trigger.
      await this.triggers.remove(name);
      return;
    }
    const submit = schedule.submit as unknown as SubmitJobDto;
    try {
      await this.jobs.submit({
        ...submit,
        tags: { ...submit.tags, [SCHEDULE_TAG]: name },
        clientToken: firingToken(name, tick),
      });
    } catch (error) {
      // A refusal (queue gone or DISABLED, definition INACTIVE...) will not pass on a retry.
      if (error instanceof ApiError) throw new UnrecoverableError(`${error.code}: ${error.message}`);
      throw error;
    }
    // Counted once per tick: a repeated delivery finds last_fired_at already at this tick.
    await this.db.query(
      `UPDATE schedules SET last_fired_at = $2, fire_count = fire_count + 1
       WHERE name = $1 AND (last_fired_at IS NULL OR last_fired_at < $2)`,
      [name, new Date(tick)],
    );
  }
}
