import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { PageQuery } from '../common/page.js';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { InterruptWorkerDto } from './interrupt-worker.dto.js';
import { ErrorResponse } from '../common/error.response.js';
import { WorkerListView, WorkerView } from './worker.view.js';
import { WorkersService } from './workers.service.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { ProjectAccess } from '../auth/project-access.js';

@ApiTags('workers')
@Controller('api/v1/workers')
export class WorkersController {
  constructor(@Inject(WorkersService) private readonly workers: WorkersService, @Inject(ProjectAccess) private readonly access: ProjectAccess) {}

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: WorkerListView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async list(@Query() query: PageQuery, @CurrentCaller() caller: Caller): Promise<WorkerListView> {
    const { rows, nextCursor } = await this.workers.page(query, this.access.readable(caller));
    return { workers: rows, nextCursor };
  }

  @Get(':id')
  @RequireAccess('read')
  @ApiOkResponse({ type: WorkerView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async get(@Param('id') id: string, @CurrentCaller() caller: Caller): Promise<WorkerView> {
    return this.workers.get(id, this.access.readable(caller));
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
