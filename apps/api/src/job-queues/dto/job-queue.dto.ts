import { NEXT_CURSOR_PROPERTY } from '../../common/page.js';
import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayUnique, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import type { JobQueueEntity } from '#libs/db';
import { NAME_PATTERN, NAME_RULE } from '../../common/validators.js';

export const QUEUE_STATES = ['ENABLED', 'DISABLED'] as const;
export const SCHEDULING_POLICIES = ['FIFO', 'FAIR_SHARE'] as const;

export class CreateJobQueueDto {
  @ApiProperty({ example: 'train' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_RULE}` })
  name!: string;

  @ApiProperty({ minimum: 0, maximum: 10000, description: 'Higher runs first' })
  @IsInt()
  @Min(0)
  @Max(10000)
  priority!: number;

  @ApiPropertyOptional({ enum: QUEUE_STATES, default: 'ENABLED' })
  @IsOptional()
  @IsIn(QUEUE_STATES, { message: 'state must be ENABLED or DISABLED' })
  state?: (typeof QUEUE_STATES)[number];

  @ApiPropertyOptional({ type: [String], description: 'Worker pools that serve this queue, in order of preference; empty means all' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @ArrayUnique({ message: 'pools must not name a pool twice' })
  @IsString({ each: true })
  @Matches(NAME_PATTERN, { each: true, message: `each of pools ${NAME_RULE}` })
  pools?: string[];

  @ApiPropertyOptional({ enum: SCHEDULING_POLICIES, default: 'FIFO', description: 'FAIR_SHARE orders jobs across projects by their decayed recent GPU usage' })
  @IsOptional()
  @IsIn(SCHEDULING_POLICIES, { message: 'schedulingPolicy must be FIFO or FAIR_SHARE' })
  schedulingPolicy?: (typeof SCHEDULING_POLICIES)[number];

  @ApiPropertyOptional({ default: false, description: 'Interruptible jobs try SPOT pools first; other jobs never run on SPOT pools' })
  @IsOptional()
  @IsBoolean({ message: 'preferSpotForInterruptible must be true or false' })
  preferSpotForInterruptible?: boolean;

  @ApiPropertyOptional({ default: false, description: 'Its waiting jobs may preempt preemptible jobs of lower priority (docs/preemption.md)' })
  @IsOptional()
  @IsBoolean({ message: 'allowPreemption must be true or false' })
  allowPreemption?: boolean;
}

/** PATCH body: any field but the name, with the same rules. */
export class UpdateJobQueueDto extends PartialType(OmitType(CreateJobQueueDto, ['name'] as const)) {}

export class JobQueueView {
  @ApiProperty() name!: string;
  @ApiProperty() priority!: number;
  @ApiProperty({ enum: QUEUE_STATES }) state!: string;
  @ApiProperty({ type: [String] }) pools!: string[];
  @ApiProperty({ enum: SCHEDULING_POLICIES }) schedulingPolicy!: string;
  @ApiProperty() preferSpotForInterruptible!: boolean;
  @ApiProperty() allowPreemption!: boolean;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;

  static of(q: JobQueueEntity): JobQueueView {
    return {
      name: q.name, priority: q.priority, state: q.state, pools: q.pools, schedulingPolicy: q.schedulingPolicy,
      preferSpotForInterruptible: q.preferSpotForInterruptible, allowPreemption: q.allowPreemption, createdAt: q.createdAt.toISOString(), updatedAt: q.updatedAt.toISOString(),
    };
  }
}

export class JobQueueListView {
  @ApiProperty({ type: [JobQueueView] }) jobQueues!: JobQueueView[];
  @ApiProperty(NEXT_CURSOR_PROPERTY) nextCursor!: string | null;
}
