import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { NEXT_CURSOR_PROPERTY } from '../../common/page.js';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, Min, ValidateIf, ValidateNested } from 'class-validator';
import { DEFAULT_POOL_POLICY, GRANTABLE_CAPABILITIES, type PoolContainerPolicy } from '#libs/config';
import type { PoolEntity } from '#libs/db';
import { IsCurrency, IsPrice, IsPriceByModel, NAME_PATTERN, NAME_RULE } from '../../common/validators.js';

export const CAPACITY_TYPES = ['ON_DEMAND', 'SPOT'] as const;
const PRICE_EXAMPLE = '"2.50" or 2.5';

/** Prices per hour of use, in the pool's currency. Omitted prices are 0. */
export class PriceCardDto {
  @ApiPropertyOptional({ type: String, example: '0.04', description: `Per vCPU-hour (${PRICE_EXAMPLE})` })
  @IsOptional()
  @IsPrice()
  vcpuHour?: string | number;

  @ApiPropertyOptional({ type: String, example: '0.005', description: 'Per GiB-hour of memory' })
  @IsOptional()
  @IsPrice()
  memoryGiBHour?: string | number;

  @ApiPropertyOptional({ type: String, example: '2.00', description: 'Per GPU-hour for models not priced in gpuHourByModel' })
  @IsOptional()
  @IsPrice()
  gpuHour?: string | number;

  @ApiPropertyOptional({ example: { A100: '3.00', H100: '6.50' }, description: 'Per GPU-hour by model; a name prices every model it matches as gpuModel would' })
  @IsOptional()
  @IsPriceByModel()
  gpuHourByModel?: Record<string, string | number>;
}

export class CreatePoolDto {
  @ApiProperty({ example: 'gpu-spot' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_RULE}` })
  name!: string;

  @ApiPropertyOptional({ enum: CAPACITY_TYPES, default: 'ON_DEMAND', description: 'SPOT is cheaper and may be interrupted' })
  @IsOptional()
  @IsIn(CAPACITY_TYPES, { message: 'capacityType must be ON_DEMAND or SPOT' })
  capacityType?: (typeof CAPACITY_TYPES)[number];

  @ApiPropertyOptional({ example: 'USD', default: 'USD', description: 'ISO 4217 code' })
  @IsOptional()
  @IsCurrency()
  currency?: string;

  @ApiPropertyOptional({ type: PriceCardDto })
  @IsOptional()
  @IsObject({ message: 'prices must be an object' })
  @ValidateNested()
  @Type(() => PriceCardDto)
  prices?: PriceCardDto;

  @ApiPropertyOptional({ default: 0, maximum: 86_400, description: 'Each attempt is billed at least this long (EC2 bills 60 s)' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(86_400)
  minimumBilledSeconds?: number;
}

/** PATCH body: any field but the name. New prices apply to attempts that start afterwards. */
export class UpdatePoolDto extends PartialType(OmitType(CreatePoolDto, ['name'] as const)) {}

const REGISTRY_PATTERN = /^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9.-]+:[0-9]{1,5})$/i;

/**
 * PATCH /api/v1/pools/{name}/container-policy (admins only): what every job
 * container on the pool's workers gets, whatever the job asks. Omitted fields keep their value.
 */
export class UpdateContainerPolicyDto {
  @ApiPropertyOptional({ default: DEFAULT_POOL_POLICY.pidsLimit, minimum: 16, maximum: 1_048_576, description: 'Most processes and threads in one container' })
  @IsOptional()
  @IsInt({ message: 'pidsLimit must be an integer' })
  @Min(16)
  @Max(1_048_576)
  pidsLimit?: number;

  @ApiPropertyOptional({ default: DEFAULT_POOL_POLICY.nofileLimit, minimum: 64, maximum: 1_048_576, description: 'Open files per process (soft and hard nofile ulimit)' })
  @IsOptional()
  @IsInt({ message: 'nofileLimit must be an integer' })
  @Min(64)
  @Max(1_048_576)
  nofileLimit?: number;

  @ApiPropertyOptional({ default: DEFAULT_POOL_POLICY.logMaxBytes, minimum: 1_048_576, description: "Cap on the container's own json-file log on the worker's disk" })
  @IsOptional()
  @IsInt({ message: 'logMaxBytes must be an integer' })
  @Min(1_048_576)
  @Max(2 ** 40)
  logMaxBytes?: number;

  @ApiPropertyOptional({ type: [String], default: [], enum: GRANTABLE_CAPABILITIES, description: 'Capabilities definitions may add back (all are dropped otherwise)' })
  @IsOptional()
  @IsArray({ message: 'allowedCapabilities must be an array' })
  @ArrayMaxSize(GRANTABLE_CAPABILITIES.length)
  @IsIn(GRANTABLE_CAPABILITIES, { each: true, message: `allowedCapabilities may hold only ${GRANTABLE_CAPABILITIES.join(', ')}` })
  allowedCapabilities?: string[];

  @ApiPropertyOptional({ default: DEFAULT_POOL_POLICY.maxShmMiB, minimum: 1, description: 'Largest /dev/shm a definition may ask for (shmSizeMiB)' })
  @IsOptional()
  @IsInt({ message: 'maxShmMiB must be an integer' })
  @Min(1)
  @Max(1_048_576)
  maxShmMiB?: number;

  @ApiPropertyOptional({ default: DEFAULT_POOL_POLICY.allowRootUser, description: 'false: every container runs as a numeric non-root uid (the definition\'s user, or 65534)' })
  @IsOptional()
  @IsBoolean({ message: 'allowRootUser must be true or false' })
  allowRootUser?: boolean;

  @ApiPropertyOptional({ default: DEFAULT_POOL_POLICY.requireReadonlyRootFs, description: 'true: every container gets a read-only root filesystem (and a tmpfs /tmp)' })
  @IsOptional()
  @IsBoolean({ message: 'requireReadonlyRootFs must be true or false' })
  requireReadonlyRootFs?: boolean;

  @ApiPropertyOptional({ type: [String], nullable: true, default: null, example: ['registry.example.com', 'docker.io'], description: 'Registries images may come from; null: any' })
  @ValidateIf((_o, v) => v !== null && v !== undefined)
  @IsArray({ message: 'allowedRegistries must be an array of registry hosts, or null' })
  @ArrayMaxSize(100)
  @IsString({ each: true, message: 'allowedRegistries must be an array of registry hosts, or null' })
  @Matches(REGISTRY_PATTERN, { each: true, message: 'allowedRegistries entries must be registry hosts such as registry.example.com, host:5000 or docker.io' })
  allowedRegistries?: string[] | null;

  @ApiPropertyOptional({ type: [String], default: [], example: ['/data/datasets', '/scratch'], description: 'Host directories under which definitions may mount host paths (mounts type host); empty: none' })
  @IsOptional()
  @IsArray({ message: 'allowedHostPaths must be an array of absolute paths' })
  @ArrayMaxSize(32)
  @IsString({ each: true, message: 'allowedHostPaths must be an array of absolute paths' })
  allowedHostPaths?: string[];
  @ApiPropertyOptional({
    default: DEFAULT_POOL_POLICY.allowMultiNode,
    description: 'true: multi-node (gang) jobs may run on this pool; their containers use the host network of their workers (docs/multi-node.md)',
  })
  @IsOptional()
  @IsBoolean({ message: 'allowMultiNode must be true or false' })
  allowMultiNode?: boolean;
}

export class ContainerPolicyView {
  @ApiProperty() pidsLimit!: number;
  @ApiProperty() nofileLimit!: number;
  @ApiProperty() logMaxBytes!: number;
  @ApiProperty({ type: [String] }) allowedCapabilities!: string[];
  @ApiProperty() maxShmMiB!: number;
  @ApiProperty() allowRootUser!: boolean;
  @ApiProperty() requireReadonlyRootFs!: boolean;
  @ApiProperty({ type: [String], nullable: true }) allowedRegistries!: string[] | null;
  @ApiProperty({ type: [String] }) allowedHostPaths!: string[];
  @ApiProperty() allowMultiNode!: boolean;
}

export function poolPolicy(p: PoolEntity): PoolContainerPolicy {
  return {
    pidsLimit: p.pidsLimit, nofileLimit: p.nofileLimit, logMaxBytes: Number(p.logMaxBytes), allowedCapabilities: p.allowedCapabilities,
    maxShmMiB: p.maxShmMiB, allowRootUser: p.allowRootUser, requireReadonlyRootFs: p.requireReadonlyRootFs, allowedRegistries: p.allowedRegistries,
    allowedHostPaths: p.allowedHostPaths ?? [],
    allowMultiNode: p.allowMultiNode,
  };
}

export class PriceCardView {
  @ApiProperty({ example: '0.040000' }) vcpuHour!: string;
  @ApiProperty({ example: '0.005000' }) memoryGiBHour!: string;
  @ApiProperty({ example: '2.000000' }) gpuHour!: string;
  @ApiProperty({ example: { A100: '3.000000' } }) gpuHourByModel!: Record<string, string>;
}

export class PoolView {
  @ApiProperty() name!: string;
  @ApiProperty({ enum: CAPACITY_TYPES }) capacityType!: string;
  @ApiProperty() currency!: string;
  @ApiProperty({ type: PriceCardView }) prices!: PriceCardView;
  @ApiProperty() minimumBilledSeconds!: number;
  @ApiProperty({ type: ContainerPolicyView, description: 'Set by admins: PATCH /api/v1/pools/{name}/container-policy' }) containerPolicy!: ContainerPolicyView;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;

  static of(p: PoolEntity): PoolView {
    return {
      name: p.name, capacityType: p.capacityType, currency: p.currency,
      prices: { vcpuHour: p.vcpuHour, memoryGiBHour: p.memoryGiBHour, gpuHour: p.gpuHour, gpuHourByModel: p.gpuHourByModel },
      minimumBilledSeconds: p.minimumBilledSeconds, containerPolicy: poolPolicy(p), createdAt: p.createdAt.toISOString(), updatedAt: p.updatedAt.toISOString(),
    };
  }
}

export class PoolListView {
  @ApiProperty({ type: [PoolView] }) pools!: PoolView[];
  @ApiProperty(NEXT_CURSOR_PROPERTY) nextCursor!: string | null;
}
