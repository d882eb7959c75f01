import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, MaxLength } from 'class-validator';

export class UsageQuery {
  @ApiPropertyOptional({ example: '2026-11-01T00:00:00Z', description: 'Start (inclusive) of the period, ISO 8601; default the start of this month (UTC)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date or time, such as 2026-11-01 or 2026-11-01T00:00:00Z' })
  from?: string;

  @ApiPropertyOptional({ example: '2026-12-01T00:00:00Z', description: 'End (exclusive) of the period, ISO 8601; default now' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date or time, such as 2026-12-01 or 2026-12-01T00:00:00Z' })
  to?: string;

  @ApiPropertyOptional({
    example: 'project,day',
    description: 'Comma-separated: any of project, queue, definition, pool, gpuModel, day, tag:<key>. Rows are always split by currency.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  groupBy?: string;
}

export class UsageFigures {
  @ApiProperty({ description: 'Attempts that ran (started) in the period' }) attempts!: number;
  @ApiProperty() gpuHours!: number;
  @ApiProperty({ description: 'GPU-hours held but idle: under 5% busy in the samples its worker took (nvidia-smi); 0 where nothing was sampled' })
  idleGpuHours!: number;
  @ApiProperty() vcpuHours!: number;
  @ApiProperty() memoryGiBHours!: number;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ example: '123.456789', description: 'Decimal string: exact sum of the usage rows' }) cost!: string;
  @ApiProperty({ description: 'True when some attempts are still running: their figures so far are included' }) includesRunning!: boolean;
}

export class UsageReport {
  @ApiProperty() from!: string;
  @ApiProperty() to!: string;
  @ApiProperty({ type: [String] }) groupBy!: string[];
  @ApiProperty({ description: 'One per group and currency; group keys appear as fields (tag:<key> as "tag:<key>")', type: [UsageFigures] })
  rows!: (UsageFigures & Record<string, unknown>)[];
  @ApiProperty({ description: 'One per currency', type: [UsageFigures] }) totals!: UsageFigures[];
  @ApiProperty({
    description: 'Attempts ended by a spot interruption (SPOT_INTERRUPTION), and their GPU-hours, per pool, in the period (by attempt start)',
    example: [{ pool: 'spot-a100', attempts: 3, gpuHours: 12.5 }],
  })
  interruptedByPool!: { pool: string; attempts: number; gpuHours: number }[];
}
