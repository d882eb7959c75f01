import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsBoolean, IsDefined, IsIn, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { GRANTABLE_CAPABILITIES, MAX_MOUNTS, MOUNT_TYPES, PULL_POLICIES, USER_PATTERN } from '#libs/config';
import { IsLabelSelector, IsStringMap, NAME_PATTERN, NAME_RULE } from '../../common/validators.js';
import { ResourcesDto } from './resources.dto.js';
import { RetryStrategyDto } from './retry-strategy.dto.js';
import { NodesDto } from '../../jobs/dto/nodes.dto.js';

export const IMAGE_PATTERN = /^[^\s]+$/;

/** One mount: a host path (under a prefix the pool allows), a named volume (per project), or a tmpfs. */
export class MountDto {
  @ApiProperty({ enum: MOUNT_TYPES, description: "host: bind a host path; volume: a named Docker volume, kept across jobs (one namespace per project); tmpfs: memory-backed scratch" })
  @IsIn(MOUNT_TYPES, { message: `type must be one of ${MOUNT_TYPES.join(', ')}` })
  type!: (typeof MOUNT_TYPES)[number];

  @ApiPropertyOptional({ example: '/data/datasets/imagenet', description: "host: an absolute path under the pool's allowedHostPaths; volume: the volume's name; tmpfs: none" })
  @IsOptional() @IsString({ message: 'source must be a string' }) @MaxLength(4096)
  source?: string;

  @ApiProperty({ example: '/data', description: 'Where it appears in the container (absolute)' })
  @IsString({ message: 'target must be a string' }) @MaxLength(4096)
  target!: string;

  @ApiPropertyOptional({ default: false, description: 'host and volume: mount read-only' })
  @IsOptional() @IsBoolean({ message: 'readOnly must be true or false' })
  readOnly?: boolean;

  @ApiPropertyOptional({ description: "tmpfs: its size in MiB (required; counts against the job's memory)" })
  @IsOptional() @IsInt({ message: 'sizeMiB must be an integer' }) @Min(1) @Max(1_048_576)
  sizeMiB?: number;
}

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

  @ApiPropertyOptional({
    type: 'object', additionalProperties: { type: 'string' }, example: { HF_TOKEN: 'hf_...' },
    description: 'Environment values kept secret: stored encrypted, given only to the container, never returned or logged',
  })
  @IsOptional()
  @IsStringMap({ env: true, maxEntries: 100 })
  secretEnvironment?: Record<string, string>;

  @ApiPropertyOptional({ minimum: 1, description: "Size of /dev/shm in MiB (Docker's default 64); at most the pool's maxShmMiB and the job's memoryMiB" })
  @IsOptional()
  @IsInt({ message: 'shmSizeMiB must be an integer' })
  @Min(1)
  @Max(1_048_576)
  shmSizeMiB?: number;

  @ApiPropertyOptional({ example: '1000:1000', description: 'Run as this user (uid[:gid] or name[:group]); pools that forbid root need a numeric uid other than 0' })
  @IsOptional()
  @IsString({ message: 'user must be a string' })
  @Matches(USER_PATTERN, { message: 'user must be uid[:gid] or name[:group] (letters, digits, _ . -)' })
  user?: string;

  @ApiPropertyOptional({ default: false, description: 'A read-only root filesystem (with a writable tmpfs /tmp)' })
  @IsOptional()
  @IsBoolean({ message: 'readonlyRootFilesystem must be true or false' })
  readonlyRootFilesystem?: boolean;

  @ApiPropertyOptional({ type: [String], example: ['SYS_PTRACE'], description: "Capabilities to add back (all are dropped); each must be in the pool's allowedCapabilities" })
  @IsOptional()
  @IsArray({ message: 'linuxCapabilities must be an array' })
  @ArrayMaxSize(GRANTABLE_CAPABILITIES.length)
  @IsIn(GRANTABLE_CAPABILITIES, { each: true, message: `linuxCapabilities may hold only ${GRANTABLE_CAPABILITIES.join(', ')}` })
  linuxCapabilities?: string[];

  @ApiPropertyOptional({ enum: PULL_POLICIES, default: 'if-not-present', description: 'always: pull the image before every attempt; if-not-present: only when the worker lacks it' })
  @IsOptional()
  @IsIn(PULL_POLICIES, { message: `pullPolicy must be one of ${PULL_POLICIES.join(', ')}` })
  pullPolicy?: (typeof PULL_POLICIES)[number];

  @ApiPropertyOptional({ type: [MountDto], description: `Up to ${MAX_MOUNTS} host paths, named volumes and tmpfs mounts` })
  @IsOptional()
  @IsArray({ message: 'mounts must be an array' })
  @ArrayMaxSize(MAX_MOUNTS)
  @ValidateNested({ each: true })
  @Type(() => MountDto)
  mounts?: MountDto[];

  @ApiProperty({ type: ResourcesDto })
  @IsDefined({ message: 'resources is required' })
  @IsObject({ message: 'resources must be an object' })
  @ValidateNested()
  @Type(() => ResourcesDto)
  resources!: ResourcesDto;

  @ApiPropertyOptional({
    type: NodesDto,
    description: 'Makes a multi-node definition: every submit of it is a gang of count nodes, each running this container (docs/multi-node.md). '
      + 'nodes.resources, when given, replaces the matching fields of resources (both are per node)',
  })
  @IsOptional()
  @IsObject({ message: 'nodes must be an object' })
  @ValidateNested()
  @Type(() => NodesDto)
  nodes?: NodesDto;

  @ApiPropertyOptional({ example: 'zone=a,nvlink=true', description: 'Workers whose labels match: key=value, key!=value, key, !key; comma = and' })
  @IsOptional()
  @IsLabelSelector()
  labelSelector?: string;

  @ApiPropertyOptional({ default: false, description: 'A queue allowed to preempt may stop it (after the checkpoint handshake) for a higher-priority job; it then goes back to the queue without using an attempt' })
  @IsOptional()
  @IsBoolean({ message: 'preemptible must be true or false' })
  preemptible?: boolean;

  @ApiPropertyOptional({ default: 30, minimum: 0, maximum: 3600, description: 'Seconds a preempted job gets to checkpoint and acknowledge before it is stopped' })
  @IsOptional()
  @IsInt({ message: 'preemptionGraceSeconds must be an integer' })
  @Min(0)
  @Max(3600)
  preemptionGraceSeconds?: number;

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
