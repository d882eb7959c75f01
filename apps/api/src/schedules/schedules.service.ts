import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_PAGE_SIZE, decodeKeyCursor, toPage, type PageQuery } from '../common/page.js';
import { DataSource, Not } from 'typeorm';
import { ScheduleEntity } from '#libs/db';
import type { Logger } from '#libs/log';
import { ApiError } from '../common/api-error.js';
import { API_CONFIG, LOGGER } from '../infra/tokens.js';
import type { ApiConfig } from '#libs/config';
import { shortestCronGapSeconds } from './cron.js';
import { JobsService } from '../jobs/jobs.service.js';
import type { CreateScheduleDto } from './dto/create-schedule.dto.js';
import { ScheduleTriggers } from './schedule-triggers.js';

/**
 * Cron schedules. Postgres is the source of truth; Redis holds one BullMQ
 * job scheduler per ACTIVE schedule, and `reconcile` makes it so again after
 * a Redis loss or a failed Redis call.
 */
@Injectable()
export class SchedulesService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobsService) private readonly jobs: JobsService,
    @Inject(ScheduleTriggers) private readonly triggers: ScheduleTriggers,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  /** Checks the submit body against what exists now, so the schedule does not fail at every tick; then commits and arms it. */
  async create(dto: CreateScheduleDto): Promise<ScheduleEntity> {
    const submit = dto.submit;
    if (submit.clientToken !== undefined) {
      throw new ApiError('VALIDATION_FAILED', 'submit.clientToken must not be set: each firing gets its own token');
    }
    if (submit.overrides?.secretEnvironment && Object.keys(submit.overrides.secretEnvironment).length > 0) {
      // The submit body is kept as it is: secrets belong on the definition, where they are sealed.
      throw new ApiError('VALIDATION_FAILED', 'submit.overrides.secretEnvironment must not be set: put secret values on the job definition (secretEnvironment)');
    }
    const gap = shortestCronGapSeconds(dto.cron.trim(), dto.timezone ?? 'UTC');
    const min = this.config.scheduleMinIntervalSeconds;
    if (gap !== null && gap < min) {
      throw new ApiError('VALIDATION_FAILED', `cron "${dto.cron.trim()}" fires every ${gap} s at times; the minimum interval is ${min} s (SCHEDULE_MIN_INTERVAL_SECONDS)`);
    }
    // A queue DISABLED now may be ENABLED by the time it fires.
    await this.jobs.resolve(submit, { enabledQueue: false, path: 'submit.' });

    const inserted: unknown[] = await this.db.query(
      `INSERT INTO schedules (name, cron, timezone, submit) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING name`,
      [dto.name, dto.cron.trim(), dto.timezone ?? 'UTC', JSON.stringify(submit)],
    );
    if (inserted.length === 0) throw new ApiError('SCHEDULE_EXISTS', `schedule ${dto.name} already exists`);
    const schedule = await this.get(dto.name);
    await this.arm(schedule);
    return schedule;
  }

  /** One page by name, of the schedules in the given projects (null: every project). */
  async page(q: PageQuery, projects: string[] | null): Promise<{ rows: ScheduleEntity[]; nextCursor: string | null }> {
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    const after = decodeKeyCursor(q.cursor, ['string']);
    const query = this.repo().createQueryBuilder('s').orderBy('s.name', 'ASC').limit(limit + 1);
    if (projects !== null) query.andWhere(`COALESCE(s.submit->>'project', 'default') = ANY(:projects)`, { projects });
    if (after) query.andWhere('s.name > :after', { after: after[0] });
    return toPage(await query.getMany(), limit, (r) => [r.name]);
  }

  async get(name: string): Promise<ScheduleEntity> {
    const schedule = await this.repo().findOneBy({ name });
    if (!schedule) throw new ApiError('SCHEDULE_NOT_FOUND', `schedule ${name} does not exist`);
    return schedule;
  }

  /** PAUSED in Postgres first: from then on no firing submits, even one Redis already queued. */
  async pause(name: string): Promise<ScheduleEntity> {
    const schedule = await this.setState(name, 'PAUSED');
    await this.disarm(name);
    return schedule;
  }

  /** Fires again from the next tick after now; missed ticks are not caught up. */
  async resume(name: string): Promise<ScheduleEntity> {
    const schedule = await this.setState(name, 'ACTIVE');
    await this.arm(schedule);
    return schedule;
  }

  async delete(name: string): Promise<void> {
    const { affected } = await this.repo().delete({ name });
    if (!affected) throw new ApiError('SCHEDULE_NOT_FOUND', `schedule ${name} does not exist`);
    await this.disarm(name);
  }

  /**
   * Makes Redis match Postgres: a job scheduler for every ACTIVE schedule
   * (re-created if missing or different), none for any other name. Redis is
   * read before Postgres, so a schedule created meanwhile is at worst armed
   * twice (harmless), never disarmed.
   */
  async reconcile(): Promise<{ armed: string[]; disarmed: string[] }> {
    const inRedis = await this.triggers.list();
    const active = await this.repo().findBy({ state: 'ACTIVE' });
    const armed: string[] = [];
    for (const s of active) {
      const t = inRedis.get(s.name);
      inRedis.delete(s.name);
      if (t && t.pattern === s.cron && t.tz === s.timezone) continue;
      await this.triggers.set(s);
      armed.push(s.name);
    }
    const disarmed = [...inRedis.keys()];
    for (const name of disarmed) await this.triggers.remove(name);
    return { armed, disarmed };
  }

  private async setState(name: string, state: ScheduleEntity['state']): Promise<ScheduleEntity> {
    const { affected } = await this.repo().update({ name, state: Not(state) }, { state, updatedAt: new Date() });
    const schedule = await this.get(name);
    if (affected) this.logger.info({ schedule: name, state }, 'schedule state changed');
    return schedule;
  }

  // A failed Redis call does not fail the request: Postgres holds the truth, firings check it, and reconcile repairs Redis.
  private async arm(schedule: ScheduleEntity): Promise<void> {
    await this.triggers.set(schedule).catch((err: Error) =>
      this.logger.warn({ err, schedule: schedule.name }, 'arming the schedule in Redis failed; the next reconcile will'),
    );
  }

  private async disarm(name: string): Promise<void> {
    await this.triggers.remove(name).catch((err: Error) =>
      this.logger.warn({ err, schedule: name }, 'disarming the schedule in Redis failed; firings skip it and the next reconcile removes it'),
    );
  }

  private repo() {
    return this.db.getRepository(ScheduleEntity);
  }
}
