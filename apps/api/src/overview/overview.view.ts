import { ApiProperty } from '@nestjs/swagger';
import { JOB_STATUSES } from '#libs/core';

export class QueueCountsView {
  @ApiProperty() queue!: string;
  @ApiProperty({
    type: 'object', additionalProperties: { type: 'number' },
    example: { SUBMITTED: 0, PENDING: 1, RUNNABLE: 12, STARTING: 0, RUNNING: 4, SUCCEEDED: 30, FAILED: 2 },
    description: `Jobs in each of ${JOB_STATUSES.join(', ')}; SUCCEEDED and FAILED count those that ended in the last finishedWindowHours`,
  })
  counts!: Record<string, number>;
}

export class GpuInventoryView {
  @ApiProperty() pool!: string;
  @ApiProperty({ example: 'A100' }) model!: string;
  @ApiProperty({ description: 'GPUs of ACTIVE and DRAINING workers' }) total!: number;
  @ApiProperty({ description: 'Held by STARTING and RUNNING attempts' }) allocated!: number;
}

export class MinuteRateView {
  @ApiProperty({ example: '2026-12-02T10:31:00.000Z', description: 'Start of the minute (UTC)' }) minute!: string;
  @ApiProperty({ description: 'Jobs submitted (an array counts once)' }) submits!: number;
  @ApiProperty({ description: 'Attempts whose container started' }) starts!: number;
}

export class OverviewView {
  @ApiProperty() generatedAt!: string;
  @ApiProperty({ example: 24 }) finishedWindowHours!: number;
  @ApiProperty({ type: [QueueCountsView], description: 'Every queue, with the jobs of the projects the caller may read (array children counted, their parents not)' })
  queues!: QueueCountsView[];
  @ApiProperty({ type: [GpuInventoryView], description: 'The whole fleet, by pool and GPU model' })
  gpus!: GpuInventoryView[];
  @ApiProperty({ type: [MinuteRateView], description: 'The last rateWindowMinutes minutes, oldest first, every minute present' })
  perMinute!: MinuteRateView[];
  @ApiProperty({ example: 30 }) rateWindowMinutes!: number;
}
