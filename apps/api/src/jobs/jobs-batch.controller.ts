import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiPayloadTooLargeResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { BatchSubmitDto, BatchSubmitResponse } from './dto/batch-submit.dto.js';
import { JobsService } from './jobs.service.js';

/**
 * `/api/v1/jobs:batch`, a custom method in the AIP-136 style. Fastify's
 * router takes `::` as a literal colon; the controller sits at `api/v1` so
 * that the path is not under `jobs/` (where `:batch` would be a parameter).
 */
export const BATCH_SUBMIT_PATH = '/api/v1/jobs:batch';

@ApiTags('jobs')
@Controller('api/v1')
export class JobsBatchController {
  constructor(@Inject(JobsService) private readonly jobs: JobsService) {}

  @Post('jobs::batch')
  @RequireAccess('submit')
  @HttpCode(200)
  @ApiOkResponse({ type: BatchSubmitResponse, description: 'One result per entry: its job (committed before this reply) or its error, naming the field' })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'jobs is not an array of 1..1000 entries, or BATCH_REJECTED: allOrNothing and an entry failed (nothing was submitted; `results` lists the failures)' })
  @ApiPayloadTooLargeResponse({ type: ErrorResponse, description: 'Body over 16 MiB' })
  async submitBatch(@Body() dto: BatchSubmitDto, @CurrentCaller() caller: Caller): Promise<BatchSubmitResponse> {
    return this.jobs.submitBatch(dto.jobs, caller, dto.allOrNothing ?? false);
  }
}
