import { ApiProperty } from '@nestjs/swagger';
import { IsISO8601 } from 'class-validator';

/** POST /api/v1/workers/{id}/interrupt: the worker's machine goes away at `deadline` (a spot interruption). */
export class InterruptWorkerDto {
  @ApiProperty({ example: '2026-12-02T12:00:00Z', description: 'When the machine is reclaimed (ISO 8601): the checkpoint grace of its jobs ends then' })
  @IsISO8601({ strict: true }, { message: 'deadline must be an ISO 8601 date-time' })
  deadline!: string;
}
