import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
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
}
