import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsNumber, IsOptional, Max, Min } from 'class-validator';
import { IsGpuModel } from '../../common/validators.js';

export class ResourcesDto {
  @ApiProperty({ example: 2, description: 'vCPUs, up to 3 decimals (0.5 is half a CPU)' })
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 3 })
  @Min(0.001)
  @Max(4096)
  vcpus!: number;

  @ApiProperty({ example: 4096, description: 'Memory limit in MiB' })
  @IsInt()
  @Min(1)
  @Max(16 * 1024 * 1024)
  memoryMiB!: number;

  @ApiPropertyOptional({ example: 1, default: 0, description: 'Whole GPUs' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(64)
  gpus?: number;

  @ApiPropertyOptional({ example: 'A100|H100', description: 'Allowed GPU models, separated by |; a name matches a model or a word of it' })
  @IsOptional()
  @IsGpuModel()
  gpuModel?: string;
}

/** Resources at submit: any subset overrides the definition's. */
export class ResourceOverridesDto {
  @ApiPropertyOptional() @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 3 }) @Min(0.001) @Max(4096)
  vcpus?: number;

  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(1) @Max(16 * 1024 * 1024)
  memoryMiB?: number;

  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(64)
  gpus?: number;

  @ApiPropertyOptional({ example: 'A100' }) @IsOptional() @IsGpuModel()
  gpuModel?: string;
}
