import { ApiProperty } from '@nestjs/swagger';
import { NEXT_CURSOR_PROPERTY } from '../../common/page.js';
import type { ScheduleEntity } from '#libs/db';
import { SubmitJobDto } from '../../jobs/dto/submit-job.dto.js';
import { nextCronRun } from '../cron.js';

export const SCHEDULE_STATES = ['ACTIVE', 'PAUSED'] as const;

export class ScheduleView {
  @ApiProperty() name!: string;
  @ApiProperty({ example: '0 2 * * *' }) cron!: string;
  @ApiProperty({ example: 'UTC' }) timezone!: string;
  @ApiProperty({ type: SubmitJobDto }) submit!: Record<string, unknown>;
  @ApiProperty({ enum: SCHEDULE_STATES }) state!: string;
  @ApiProperty({ type: String, nullable: true, description: 'Next tick (ISO); null while PAUSED' }) nextRunAt!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Tick time of the latest firing (ISO)' }) lastFiredAt!: string | null;
  @ApiProperty({ description: 'Firings that submitted a job' }) fireCount!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;

  static of(s: ScheduleEntity, now = new Date()): ScheduleView {
    return {
      name: s.name, cron: s.cron, timezone: s.timezone, submit: s.submit, state: s.state,
      nextRunAt: s.state === 'ACTIVE' ? (nextCronRun(s.cron, s.timezone, now)?.toISOString() ?? null) : null,
      lastFiredAt: s.lastFiredAt ? s.lastFiredAt.toISOString() : null,
      fireCount: s.fireCount,
      createdAt: s.createdAt.toISOString(), updatedAt: s.updatedAt.toISOString(),
    };
  }
}

export class ScheduleListView {
  @ApiProperty({ type: [ScheduleView] }) schedules!: ScheduleView[];
  @ApiProperty(NEXT_CURSOR_PROPERTY) nextCursor!: string | null;
}
