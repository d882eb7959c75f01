import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, Min, ValidateNested } from 'class-validator';
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
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;

  static of(p: PoolEntity): PoolView {
    return {
      name: p.name, capacityType: p.capacityType, currency: p.currency,
      prices: { vcpuHour: p.vcpuHour, memoryGiBHour: p.memoryGiBHour, gpuHour: p.gpuHour, gpuHourByModel: p.gpuHourByModel },
      minimumBilledSeconds: p.minimumBilledSeconds, createdAt: p.createdAt.toISOString(), updatedAt: p.updatedAt.toISOString(),
    };
  }
}
