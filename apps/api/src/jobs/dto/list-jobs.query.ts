import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { JOB_STATUSES } from '#libs/core';
import { NAME_PATTERN, NAME_RULE } from '../../common/validators.js';

export class ListJobsQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @Matches(NAME_PATTERN, { message: `queue ${NAME_RULE}` })
  queue?: string;

  @ApiPropertyOptional({ description: 'Only jobs of this project' }) @IsOptional() @IsString() @Matches(NAME_PATTERN, { message: `project ${NAME_RULE}` })
  project?: string;

  @ApiPropertyOptional({ enum: JOB_STATUSES })
  @IsOptional()
  @IsIn(JOB_STATUSES, { message: `status must be one of ${JOB_STATUSES.join(', ')}` })
  status?: (typeof JOB_STATUSES)[number];

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: "An array job's id: lists its children" })
  @IsOptional() @IsString() @MaxLength(64)
  arrayJobId?: string;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional() @IsString() @MaxLength(1024)
  cursor?: string;
}

export class LogsQuery {
  @ApiPropertyOptional({ description: 'Attempt number; default the latest' })
  @IsOptional() @Type(() => Number)
  @IsInt({ message: 'attempt must be a positive integer' }) @Min(1, { message: 'attempt must be a positive integer' }) @Max(1000)
  attempt?: number;

  @ApiPropertyOptional({
    enum: ['true', 'false'], default: 'false',
    description: 'true: stream the output as server-sent events (text/event-stream) while the attempt runs, ending when it ends',
  })
  @IsOptional() @IsIn(['true', 'false'], { message: 'follow must be true or false' })
  follow?: 'true' | 'false';
}
