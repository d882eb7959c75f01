import { ApiProperty, ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { NEXT_CURSOR_PROPERTY } from '../../common/page.js';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import type { ProjectStanding } from '#libs/db';
import { IsCurrency, IsPrice, NAME_PATTERN, NAME_RULE } from '../../common/validators.js';

export class CreateProjectDto {
  @ApiProperty({ example: 'vision' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_RULE}` })
  name!: string;

  @ApiPropertyOptional({ type: String, nullable: true, example: '1000.00', description: 'Spend per calendar month (UTC); once reached, no new job of the project starts. null: no budget' })
  @IsOptional()
  @IsPrice()
  monthlyBudget?: string | number | null;

  @ApiPropertyOptional({ example: 'USD', default: 'USD', description: 'Currency of the budget (ISO 4217); usage in pools of other currencies does not count against it' })
  @IsOptional()
  @IsCurrency()
  currency?: string;

  @ApiPropertyOptional({ type: Number, nullable: true, example: 16, description: 'Most GPUs its jobs may hold at once. null: no quota' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  gpuQuota?: number | null;
}

/** PATCH body: any field but the name; null removes a budget or quota. */
export class UpdateProjectDto extends OmitType(CreateProjectDto, ['name'] as const) {}

export class ProjectView {
  @ApiProperty() name!: string;
  @ApiProperty({ type: String, nullable: true, example: '1000.000000' }) monthlyBudget!: string | null;
  @ApiProperty() currency!: string;
  @ApiProperty({ type: Number, nullable: true }) gpuQuota!: number | null;
  @ApiProperty({ example: '2026-11' }) month!: string;
  @ApiProperty({ example: '412.530000', description: 'Billed this month in the budget currency, running attempts included' })
  spentThisMonth!: string;
  @ApiProperty({ description: 'GPUs its STARTING and RUNNING attempts hold now' }) gpusHeld!: number;

  static of(p: ProjectStanding, gpusHeld: number): ProjectView {
    return {
      name: p.name, monthlyBudget: p.monthlyBudget, currency: p.currency, gpuQuota: p.gpuQuota, month: p.month,
      spentThisMonth: p.spentThisMonth, gpusHeld,
    };
  }
}

export class ProjectListView {
  @ApiProperty({ type: [ProjectView] }) projects!: ProjectView[];
  @ApiProperty(NEXT_CURSOR_PROPERTY) nextCursor!: string | null;
}
