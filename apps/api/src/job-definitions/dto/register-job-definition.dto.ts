import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsDefined, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { IsLabelSelector, IsStringMap, NAME_PATTERN, NAME_RULE } from '../../common/validators.js';
import { ResourcesDto } from './resources.dto.js';
import { RetryStrategyDto } from './retry-strategy.dto.js';

export const IMAGE_PATTERN = /^[^\s]+$/;

export class RegisterJobDefinitionDto {
  @ApiProperty({ example: 'train-resnet' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_RULE}` })
  name!: string;

  @ApiProperty({ example: 'busybox:latest' })
  @IsString()
  @IsNotEmpty({ message: 'image must not be empty' })
  @MaxLength(1024)
  @Matches(IMAGE_PATTERN, { message: 'image must not contain whitespace' })
  image!: string;

  @ApiPropertyOptional({ type: [String], example: ['sh', '-c', 'echo hello'], description: 'argv; empty means the image default' })
  @IsOptional()
  @IsArray({ message: 'command must be an array of strings' })
  @ArrayMaxSize(1000)
  @IsString({ each: true, message: 'command must be an array of strings' })
  @MaxLength(32_768, { each: true })
  command?: string[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, example: { EPOCHS: '10' } })
  @IsOptional()
  @IsStringMap({ env: true })
  environment?: Record<string, string>;

  @ApiProperty({ type: ResourcesDto })
  @IsDefined({ message: 'resources is required' })
  @IsObject({ message: 'resources must be an object' })
  @ValidateNested()
  @Type(() => ResourcesDto)
  resources!: ResourcesDto;

  @ApiPropertyOptional({ example: 'zone=a,nvlink=true', description: 'Workers whose labels match: key=value, key!=value, key, !key; comma = and' })
  @IsOptional()
  @IsLabelSelector()
  labelSelector?: string;

  @ApiPropertyOptional({ description: 'Per-attempt limit in seconds' })
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

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, description: 'Defaults for Ref::name in command' })
  @IsOptional()
  @IsStringMap()
  parameters?: Record<string, string>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional()
  @IsStringMap({ maxEntries: 50 })
  tags?: Record<string, string>;
}
