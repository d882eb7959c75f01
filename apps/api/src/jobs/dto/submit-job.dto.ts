import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { NAME_PATTERN, NAME_RULE } from '../../common/validators.js';
import { ResourceOverridesDto } from '../../job-definitions/dto/resources.dto.js';
import { RegisterJobDefinitionDto } from '../../job-definitions/dto/register-job-definition.dto.js';
import { DEFINITION_REF_PATTERN } from '../../job-definitions/job-definitions.service.js';
import { NodePropertiesDto, NodesDto } from './nodes.dto.js';

/** What a submit may override: command and environment (same rules as the definition's), any resource. */
export class JobOverridesDto extends PickType(RegisterJobDefinitionDto, ['command', 'environment', 'secretEnvironment'] as const) {
  @ApiPropertyOptional({ type: ResourceOverridesDto })
  @IsOptional()
  // Nested messages are prefixed with "overrides." by the validation pipe.
  @IsObject({ message: 'resources must be an object' })
  @ValidateNested()
  @Type(() => ResourceOverridesDto)
  resources?: ResourceOverridesDto;
}

export const MAX_DEPENDENCIES = 100;

export const MIN_ARRAY_SIZE = 2;
export const MAX_ARRAY_SIZE = 10_000;
export const DEPENDENCY_TYPES = ['N_TO_N', 'SEQUENTIAL'] as const;

export class DependencyDto {
  @ApiPropertyOptional({ description: 'A job submitted earlier; omitted for SEQUENTIAL' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  jobId?: string;

  @ApiPropertyOptional({
    enum: DEPENDENCY_TYPES,
    description: 'Array jobs only. N_TO_N: child i waits for child i of jobId (an array of the same size). SEQUENTIAL: child i waits for child i-1.',
  })
  @IsOptional()
  @IsIn(DEPENDENCY_TYPES, { message: 'type must be N_TO_N or SEQUENTIAL' })
  type?: (typeof DEPENDENCY_TYPES)[number];
}

export class ArrayPropertiesDto {
  @ApiProperty({ minimum: MIN_ARRAY_SIZE, maximum: MAX_ARRAY_SIZE, description: 'Children `<jobId>:<index>`, index 0..size-1 in GPUBATCH_ARRAY_INDEX' })
  @IsInt()
  @Min(MIN_ARRAY_SIZE)
  @Max(MAX_ARRAY_SIZE)
  size!: number;
}

/** The submit body; timeout, retry strategy, parameters, tags and label selector override the definition's, with its rules. */
export class SubmitJobDto extends PickType(RegisterJobDefinitionDto, ['timeoutSeconds', 'retryStrategy', 'parameters', 'tags', 'labelSelector', 'preemptible', 'preemptionGraceSeconds'] as const) {
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

  @ApiPropertyOptional({ minimum: 0, maximum: 9999, default: 0, description: 'Order inside the queue: higher first' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(9999)
  priority?: number;

  @ApiPropertyOptional({ default: 'default' })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: `project ${NAME_RULE}` })
  project?: string;

  @ApiPropertyOptional({ type: [DependencyDto], description: `Up to ${MAX_DEPENDENCIES} jobs that must succeed first; the job waits PENDING` })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_DEPENDENCIES)
  @ValidateNested({ each: true })
  @Type(() => DependencyDto)
  dependsOn?: DependencyDto[];

  @ApiPropertyOptional({ type: ArrayPropertiesDto, description: 'Makes an array job: the children are scheduled independently' })
  @IsOptional()
  @IsObject({ message: 'array must be an object' })
  @ValidateNested()
  @Type(() => ArrayPropertiesDto)
  array?: ArrayPropertiesDto;

  @ApiPropertyOptional({ type: NodesDto, description: 'Makes a multi-node job: its nodes start together on distinct workers (docs/multi-node.md)' })
  @IsOptional()
  @IsObject({ message: 'nodes must be an object' })
  @ValidateNested()
  @Type(() => NodesDto)
  nodes?: NodesDto;

  @ApiPropertyOptional({ type: NodePropertiesDto, description: 'AWS Batch\'s multi-node shape, mapped onto nodes' })
  @IsOptional()
  @IsObject({ message: 'nodeProperties must be an object' })
  @ValidateNested()
  @Type(() => NodePropertiesDto)
  nodeProperties?: NodePropertiesDto;

  @ApiPropertyOptional({ default: false, description: 'The job tolerates interruption: a queue that prefers SPOT pools for such jobs may run it there' })
  @IsOptional()
  @IsBoolean({ message: 'interruptible must be true or false' })
  interruptible?: boolean;

  @ApiPropertyOptional({ description: 'Idempotency key: the same token returns the same job' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  clientToken?: string;
}
