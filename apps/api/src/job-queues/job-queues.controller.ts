import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import { PageQuery } from '../common/page.js';
import { CreateJobQueueDto, JobQueueListView, JobQueueView, UpdateJobQueueDto } from './dto/job-queue.dto.js';
import { JobQueuesService } from './job-queues.service.js';
import { RequireAccess } from '../auth/require-access.decorator.js';

@ApiTags('job queues')
@Controller('api/v1/job-queues')
export class JobQueuesController {
  constructor(@Inject(JobQueuesService) private readonly queues: JobQueuesService) {}

  @Post()
  @RequireAccess('operate')
  @ApiCreatedResponse({ type: JobQueueView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiConflictResponse({ type: ErrorResponse, description: 'JOB_QUEUE_EXISTS' })
  async create(@Body() dto: CreateJobQueueDto): Promise<JobQueueView> {
    return JobQueueView.of(await this.queues.create(dto));
  }

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: JobQueueListView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async list(@Query() query: PageQuery): Promise<JobQueueListView> {
    const { rows, nextCursor } = await this.queues.page(query);
    return { jobQueues: rows.map(JobQueueView.of), nextCursor };
  }

  @Get(':name')
  @RequireAccess('read')
  @ApiOkResponse({ type: JobQueueView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async get(@Param('name') name: string): Promise<JobQueueView> {
    return JobQueueView.of(await this.queues.get(name));
  }

  @Patch(':name')
  @RequireAccess('operate')
  @ApiOkResponse({ type: JobQueueView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async update(@Param('name') name: string, @Body() dto: UpdateJobQueueDto): Promise<JobQueueView> {
    return JobQueueView.of(await this.queues.update(name, dto));
  }

  @Delete(':name')
  @RequireAccess('operate')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponse })
  @ApiConflictResponse({ type: ErrorResponse, description: 'JOB_QUEUE_IN_USE: not DISABLED or holds unfinished jobs' })
  async delete(@Param('name') name: string): Promise<void> {
    await this.queues.delete(name);
  }
}
