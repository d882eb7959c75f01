import { ApiProperty } from '@nestjs/swagger';
import { IsInt, Max, Min } from 'class-validator';

export class RetryStrategyDto {
  @ApiProperty({ minimum: 1, maximum: 10, description: 'Attempts in all, the first included' })
  @IsInt()
  @Min(1)
  @Max(10)
  attempts!: number;
}
