import { Body, Controller, Get, Inject, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiPayloadTooLargeResponse, ApiTags,
} from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import { JobDetailView, JobListView, JobLogsView, SubmitJobResponse } from './dto/job.view.js';
import { ListJobsQuery, LogsQuery } from './dto/list-jobs.query.js';
import { SubmitJobDto } from './dto/submit-job.dto.js';
import { JobsService } from './jobs.service.js';

@ApiTags('jobs')
@Controller('api/v1/jobs')
export class JobsController {
  constructor(@Inject(JobsService) private readonly jobs: JobsService) {}

  @Post()
  @ApiCreatedResponse({ type: SubmitJobResponse, description: 'Committed to Postgres before this reply' })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'A field breaks its rule; the message names it' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'JOB_QUEUE_NOT_FOUND or DEFINITION_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponse, description: 'JOB_QUEUE_DISABLED or DEFINITION_INACTIVE' })
  @ApiPayloadTooLargeResponse({ type: ErrorResponse, description: 'Body over 256 KiB' })
  async submit(@Body() dto: SubmitJobDto): Promise<SubmitJobResponse> {
    return this.jobs.submit(dto);
  }

  @Get()
  @ApiOkResponse({ type: JobListView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async list(@Query() query: ListJobsQuery): Promise<JobListView> {
    return this.jobs.list(query);
  }

  @Get(':id')
  @ApiOkResponse({ type: JobDetailView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async describe(@Param('id') id: string): Promise<JobDetailView> {
    return this.jobs.describe(id);
  }

  @Get(':id/logs')
  @ApiOkResponse({ type: JobLogsView, description: 'stdout and stderr of the attempt, in order' })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async logs(@Param('id') id: string, @Query() query: LogsQuery): Promise<JobLogsView> {
    return this.jobs.logs(id, query.attempt);
  }
}
