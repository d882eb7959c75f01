import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested, ValidateIf, IsDefined } from 'class-validator';
import { MAX_EXIT_RULES } from '#libs/core';

const GLOB = /^[A-Za-z0-9 .:*?_,()'\/-]*$/;

/** One evaluateOnExit rule: patterns (glob, * and ?) and what to do when all given ones match. */
export class ExitRuleDto {
  @ApiPropertyOptional({ example: '137', description: 'Glob on the exit code' })
  @IsOptional() @IsString() @MaxLength(512) @Matches(/^[0-9*?]+$/, { message: 'onExitCode must be digits with * or ? wildcards' })
  onExitCode?: string;

  @ApiPropertyOptional({ example: 'CannotPullContainerError*', description: 'Glob on the failure reason' })
  @IsOptional() @IsString() @MaxLength(512) @Matches(GLOB, { message: 'onReason may hold letters, digits, spaces and .:*?_,()\'/-' })
  onReason?: string;

  @ApiPropertyOptional({ example: 'Job attempt duration exceeded timeout', description: 'Glob on the statusReason' })
  @IsOptional() @IsString() @MaxLength(512) @Matches(GLOB, { message: 'onStatusReason may hold letters, digits, spaces and .:*?_,()\'/-' })
  onStatusReason?: string;

  @ApiProperty({ enum: ['RETRY', 'EXIT'] })
  @Transform(({ value }) => (typeof value === 'string' ? value.toUpperCase() : value))
  @IsDefined({ message: 'action is required (RETRY or EXIT)' })
  @IsIn(['RETRY', 'EXIT'], { message: 'action must be RETRY or EXIT' })
  action!: 'RETRY' | 'EXIT';

  // A rule with no pattern would match everything: say so rather than guess.
  @ValidateIf((r: ExitRuleDto) => !r.onExitCode && !r.onReason && !r.onStatusReason)
  @IsDefined({ message: 'a rule needs at least one of onExitCode, onReason, onStatusReason' })
  readonly patternRequired?: never;
}

export class RetryStrategyDto {
  @ApiProperty({ minimum: 1, maximum: 10, description: 'Attempts in all, the first included' })
  @IsInt()
  @Min(1)
  @Max(10)
  attempts!: number;

  @ApiPropertyOptional({ type: [ExitRuleDto], description: `Up to ${MAX_EXIT_RULES} rules; the first match decides; no match retries (a timeout does not)` })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_EXIT_RULES)
  @ValidateNested({ each: true })
  @Type(() => ExitRuleDto)
  evaluateOnExit?: ExitRuleDto[];
}
