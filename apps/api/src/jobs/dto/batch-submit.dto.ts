import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsOptional } from 'class-validator';
import { MAX_BATCH_SUBMITS } from '../../common/body-limits.js';
import { CostEstimateView, SubmitJobResponse } from './job.view.js';
import { SubmitJobDto } from './submit-job.dto.js';

/**
 * Up to MAX_BATCH_SUBMITS submit bodies. Each entry is validated on its own
 * (by the rules of POST /api/v1/jobs), so a bad one fails alone.
 */
export class BatchSubmitDto {
  @ApiProperty({ type: [SubmitJobDto], minItems: 1, maxItems: MAX_BATCH_SUBMITS, description: 'Submit bodies, each as POST /api/v1/jobs takes it' })
  @IsArray({ message: 'jobs must be an array of submit bodies' })
  @ArrayMinSize(1, { message: 'jobs must hold at least 1 submit body' })
  @ArrayMaxSize(MAX_BATCH_SUBMITS, { message: `jobs must hold at most ${MAX_BATCH_SUBMITS} submit bodies` })
  jobs!: unknown[];

  @ApiPropertyOptional({ default: false, description: 'true: if any entry fails, nothing is submitted and the reply is 400 BATCH_REJECTED listing the failures' })
  @IsOptional()
  @IsBoolean({ message: 'allOrNothing must be true or false' })
  allOrNothing?: boolean;
}

export class BatchEntryError {
  @ApiProperty({ example: 404 }) statusCode!: number;
  @ApiProperty({ example: 'JOB_QUEUE_NOT_FOUND' }) code!: string;
  @ApiProperty({ example: 'job queue nope does not exist' }) message!: string;
  @ApiPropertyOptional({ example: 'queue', description: 'The field of the entry at fault (dotted path), when one is' }) field?: string;
  @ApiPropertyOptional({ type: [String] }) errors?: string[];
}

export class BatchEntryResult {
  @ApiProperty({ description: 'Position of the entry in `jobs`' }) index!: number;
  @ApiPropertyOptional({ description: 'Set when the entry was submitted (committed)' }) jobId?: string;
  @ApiPropertyOptional() name?: string;
  @ApiPropertyOptional({ type: CostEstimateView }) estimatedMaxCost?: CostEstimateView;
  @ApiPropertyOptional({ type: BatchEntryError, description: 'Set when the entry failed' }) error?: BatchEntryError;
}

export class BatchSubmitResponse {
  @ApiProperty({ description: 'Entries committed' }) submitted!: number;
  @ApiProperty({ description: 'Entries that failed' }) failed!: number;
  @ApiProperty({ type: [BatchEntryResult], description: 'One per entry, in order' }) results!: BatchEntryResult[];
}

export type { SubmitJobResponse };
