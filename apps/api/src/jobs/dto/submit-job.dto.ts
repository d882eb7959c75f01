import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { IsStringMap, NAME_PATTERN, NAME_RULE } from '../../common/validators.js';
import { ResourceOverridesDto } from '../../job-definitions/dto/resources.dto.js';
import { RetryStrategyDto } from '../../job-definitions/dto/retry-strategy.dto.js';
import { DEFINITION_REF_PATTERN } from '../../job-definitions/job-definitions.service.js';

export class JobOverridesDto {
  @ApiPropertyOptional({ type: [String] })
  @IsOptional()
  // Nested messages are prefixed with "overrides." by the validation pipe.
  @IsArray({ message: 'command must be an array of strings' })
  @ArrayMaxSize(1000)
  @IsString({ each: true, message: 'command must be an array of strings' })
  @MaxLength(32_768, { each: true })
  command?: string[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional()
  @IsStringMap({ env: true })
  environment?: Record<string, string>;

  @ApiPropertyOptional({ type: ResourceOverridesDto })
  @IsOptional()
  @IsObject({ message: 'resources must be an object' })
  @ValidateNested()
  @Type(() => ResourceOverridesDto)
  resources?: ResourceOverridesDto;
}

export class SubmitJobDto {
  @ApiProperty({ example: 'resnet-epoch-1' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_RULE}` })
  name!: string;

  @ApiProperty({ example: 'train' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `queue ${NAME_RULE}` })
  queue!: string;

  @ApiProperty({ example: 'train-resnet', description: '`name` (latest ACTIVE revision) or `name:revision`' })
  @IsString()
  @Matches(DEFINITION_REF_PATTERN, { message: 'definition must be "name" or "name:revision" (revision a positive integer)' })
  definition!: string;

  @ApiPropertyOptional({ type: JobOverridesDto })
  @IsOptional()
  @IsObject({ message: 'overrides must be an object' })
  @ValidateNested()
  @Type(() => JobOverridesDto)
  overrides?: JobOverridesDto;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, description: 'Values for Ref::name in command' })
  @IsOptional()
  @IsStringMap()
  parameters?: Record<string, string>;

  @ApiPropertyOptional({ minimum: 0, maximum: 9999, default: 0, description: 'Order inside the queue: higher first' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(9999)
  priority?: number;

  @ApiPropertyOptional({ description: 'Per-attempt limit in seconds; overrides the definition' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(14 * 24 * 3600)
  timeoutSeconds?: number;

  @ApiPropertyOptional({ type: RetryStrategyDto })
  @IsOptional()
  @IsObject({ message: 'retryStrategy must be an object' })
  @ValidateNested()
  @Type(() => RetryStrategyDto)
  retryStrategy?: RetryStrategyDto;

  @ApiPropertyOptional({ default: 'default' })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: `project ${NAME_RULE}` })
  project?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional()
  @IsStringMap({ maxEntries: 50 })
  tags?: Record<string, string>;

  @ApiPropertyOptional({ description: 'Idempotency key: the same token returns the same job' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  clientToken?: string;
}
