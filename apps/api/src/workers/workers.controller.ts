import { Body, Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { InterruptWorkerDto } from './interrupt-worker.dto.js';
import { ErrorResponse } from '../common/error.response.js';
import { WorkerView } from './worker.view.js';
import { WorkersService } from './workers.service.js';
import { RequireAccess } from '../auth/require-access.decorator.js';

@ApiTags('workers')
@Controller('api/v1/workers')
export class WorkersController {
  constructor(@Inject(WorkersService) private readonly workers: WorkersService) {}

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: [WorkerView] })
  async list(): Promise<{ workers: WorkerView[] }> {
    return { workers: await this.workers.list() };
  }

  @Get(':id')
  @RequireAccess('read')
  @ApiOkResponse({ type: WorkerView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async get(@Param('id') id: string): Promise<WorkerView> {
    return this.workers.get(id);
  }

  @Post(':id/drain')
  @RequireAccess('operate')
  @HttpCode(200)
  @ApiOkResponse({ type: WorkerView, description: 'Now DRAINING: no new jobs; running ones finish' })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async drain(@Param('id') id: string): Promise<WorkerView> {
    return this.workers.drain(id);
  }

  @Post(':id/interrupt')
  @RequireAccess('operate')
  @HttpCode(200)
  @ApiOkResponse({
    type: WorkerView,
    description: 'A spot interruption: every job on the worker gets the checkpoint handshake with the deadline as its grace, goes back to '
      + 'the queue without using an attempt (SPOT_INTERRUPTION), and the worker drains (docs/preemption.md)',
  })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'deadline is not an ISO 8601 date-time, is in the past, or more than an hour away' })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async interrupt(@Param('id') id: string, @Body() dto: InterruptWorkerDto): Promise<WorkerView> {
    return this.workers.interrupt(id, dto.deadline);
  }
}
