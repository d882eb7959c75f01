import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiPayloadTooLargeResponse, ApiProduces, ApiTags, ApiTooManyRequestsResponse, ApiAcceptedResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ErrorResponse } from '../common/error.response.js';
import { JobDetailView, JobListView, JobLogsView, SubmitJobResponse } from './dto/job.view.js';
import { ListJobsQuery, LogsQuery } from './dto/list-jobs.query.js';
import { SubmitJobDto } from './dto/submit-job.dto.js';
import { JobsService } from './jobs.service.js';
import { JobStopService } from './job-stop.service.js';
import { JobLogsService } from './job-logs.service.js';
import { StopJobDto, StopJobResponse } from './dto/stop-job.dto.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { ProjectAccess } from '../auth/project-access.js';
import { LogFollowers } from './log-followers.js';

@ApiTags('jobs')
@Controller('api/v1/jobs')
export class JobsController {
  constructor(
    @Inject(JobsService) private readonly jobs: JobsService,
    @Inject(JobStopService) private readonly stopper: JobStopService,
    @Inject(JobLogsService) private readonly jobLogs: JobLogsService,
    @Inject(ProjectAccess) private readonly access: ProjectAccess,
    @Inject(LogFollowers) private readonly followers: LogFollowers,
  ) {}

  @Post()
  @RequireAccess('submit')
  @ApiCreatedResponse({ type: SubmitJobResponse, description: 'Committed to Postgres before this reply' })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'A field breaks its rule; the message names it' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'JOB_QUEUE_NOT_FOUND or DEFINITION_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponse, description: 'JOB_QUEUE_DISABLED or DEFINITION_INACTIVE' })
  @ApiPayloadTooLargeResponse({ type: ErrorResponse, description: 'Body over 256 KiB' })
  async submit(@Body() dto: SubmitJobDto, @CurrentCaller() caller: Caller): Promise<SubmitJobResponse> {
    this.access.submit(caller, dto.project);
    return this.jobs.submit(dto);
  }

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: JobListView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async list(@Query() query: ListJobsQuery, @CurrentCaller() caller: Caller): Promise<JobListView> {
    return this.jobs.list(query, this.access.readable(caller));
  }

  @Get(':id')
  @RequireAccess('read')
  @ApiOkResponse({ type: JobDetailView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async describe(@Param('id') id: string, @CurrentCaller() caller: Caller): Promise<JobDetailView> {
    await this.access.job(caller, id, 'read');
    return this.jobs.describe(id);
  }

  @Post(':id/cancel')
  @RequireAccess('submit')
  @HttpCode(200)
  @ApiOkResponse({ type: StopJobResponse, description: 'A SUBMITTED, PENDING or RUNNABLE job is now FAILED with the reason; a finished job is unchanged' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  @ApiConflictResponse({ type: ErrorResponse, description: 'JOB_NOT_CANCELLABLE: it is STARTING or RUNNING; use terminate' })
  async cancel(@Param('id') id: string, @Body() dto: StopJobDto, @CurrentCaller() caller: Caller): Promise<StopJobResponse> {
    await this.access.job(caller, id, 'submit');
    return this.stopper.cancel(id, dto.reason);
  }

  @Post(':id/terminate')
  @RequireAccess('submit')
  @HttpCode(200)
  @ApiOkResponse({ type: StopJobResponse, description: 'Cancels a waiting job, or stops a STARTING/RUNNING container (SIGTERM, grace, SIGKILL); a finished job is unchanged' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async terminate(@Param('id') id: string, @Body() dto: StopJobDto, @CurrentCaller() caller: Caller): Promise<StopJobResponse> {
    await this.access.job(caller, id, 'submit');
    return this.stopper.terminate(id, dto.reason);
  }

  @Post(':id/checkpoint-ack')
  @RequireAccess('submit')
  @HttpCode(202)
  @ApiAcceptedResponse({ description: 'The running attempt\'s checkpoint is acknowledged: a preemption under way stops it now instead of after the grace (docs/preemption.md)' })
  @ApiNotFoundResponse({ type: ErrorResponse })
  @ApiConflictResponse({ type: ErrorResponse, description: 'INVALID_TRANSITION: the job is not RUNNING' })
  async checkpointAck(@Param('id') id: string, @CurrentCaller() caller: Caller): Promise<{ jobId: string; attempt: number }> {
    await this.access.job(caller, id, 'submit');
    return this.stopper.checkpointAck(id);
  }

  @Get(':id/logs')
  @RequireAccess('read')
  @ApiProduces('application/json', 'text/event-stream')
  @ApiOkResponse({
    type: JobLogsView,
    description: 'stdout and stderr of the attempt, in order. With follow=true, server-sent events instead: '
      + '`event: line` (data: JSON { stream, at, text }) for each line as the container writes it, from the first, '
      + 'then `event: end` (data: JSON { jobId, attempt }) once the attempt has ended, and the stream closes. '
      + 'Output is capped per attempt; a cut one ends with a "[gpubatch] output truncated" line.',
  })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'attempt is not a positive integer, or follow is not true/false' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'JOB_NOT_FOUND, or NOT_FOUND: no such attempt' })
  @ApiTooManyRequestsResponse({ type: ErrorResponse, description: 'TOO_MANY_FOLLOWERS: this key already follows as many logs as it may' })
  async logs(@Param('id') id: string, @Query() query: LogsQuery, @Res() reply: FastifyReply, @CurrentCaller() caller: Caller): Promise<void> {
    await this.access.job(caller, id, 'read');
    if (query.follow !== 'true') {
      void reply.send(await this.jobLogs.stored(id, query.attempt));
      return;
    }
    // A 404 is still an ordinary error reply; from here on the response is the event stream.
    const release = this.followers.acquire(caller.id);
    try {
      const follow = await this.jobLogs.prepareFollow(id, query.attempt);
      reply.hijack();
      await follow(reply.raw);
    } finally {
      release();
    }
  }
}
