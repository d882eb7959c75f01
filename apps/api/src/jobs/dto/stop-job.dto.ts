import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { JOB_STATUSES } from '#libs/core';

export class StopJobDto {
  @ApiProperty({ example: 'Wrong input data', description: "Becomes the job's statusReason" })
  @IsString()
  @IsNotEmpty({ message: 'reason must not be empty' })
  @MaxLength(1024)
  reason!: string;
}

export class StopJobResponse {
  @ApiProperty() jobId!: string;
  @ApiProperty({ enum: JOB_STATUSES, description: 'Status after the call; a terminated RUNNING job turns FAILED once its container has stopped' })
  status!: string;
  @ApiPropertyOptional({ description: 'True while the container is being stopped (SIGTERM, grace, SIGKILL)' })
  stopping?: boolean;
}
