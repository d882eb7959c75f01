import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import { ApiError } from '../common/api-error.js';
import { AwsComputeEnvironments } from './aws-compute-environments.js';
import { AwsInput } from './aws-input.js';
import { AwsJobDefinitions } from './aws-job-definitions.js';
import { AwsJobQueues } from './aws-job-queues.js';
import { AwsJobs } from './aws-jobs.js';
import { AwsTags } from './aws-tags.js';

type Operation = (body: AwsInput, caller: Caller) => Promise<object>;

/**
 * The AWS Batch API (restJson1: `POST /v1/<lowercase operation>` with a JSON
 * body, tags under /v1/tags/{resourceArn}), so AWS SDKs and the AWS CLI work
 * pointed at gpubatch (endpoint / --endpoint-url). Callers sign with AWS
 * Signature V4 using an API key's id and secret (the guard verifies it; a
 * bearer key works too). The guard lets through whoever may read; each
 * operation then asks for its own right, as the REST route it maps to does.
 * Documented in docs/aws-batch.md, not in Swagger.
 */
@ApiExcludeController()
@Controller('v1')
export class AwsBatchController {
  private readonly operations: Record<string, Operation>;

  constructor(
    @Inject(AwsJobDefinitions) definitions: AwsJobDefinitions,
    @Inject(AwsJobQueues) queues: AwsJobQueues,
    @Inject(AwsComputeEnvironments) environments: AwsComputeEnvironments,
    @Inject(AwsJobs) jobs: AwsJobs,
    @Inject(AwsTags) private readonly tags: AwsTags,
  ) {
    this.operations = {
      registerjobdefinition: (b, c) => definitions.register(b, c),
      describejobdefinitions: (b) => definitions.describe(b),
      deregisterjobdefinition: (b, c) => definitions.deregister(b, c),
      createjobqueue: (b, c) => queues.create(b, c),
      describejobqueues: (b) => queues.describe(b),
      updatejobqueue: (b, c) => queues.update(b, c),
      deletejobqueue: (b, c) => queues.delete(b, c),
      createcomputeenvironment: (b, c) => environments.create(b, c),
      describecomputeenvironments: (b) => environments.describe(b),
      updatecomputeenvironment: (b, c) => environments.update(b, c),
      submitjob: (b, c) => jobs.submit(b, c),
      describejobs: (b, c) => jobs.describe(b, c),
      listjobs: (b, c) => jobs.list(b, c),
      canceljob: (b, c) => jobs.cancel(b, c),
      terminatejob: (b, c) => jobs.terminate(b, c),
    };
  }

  @Post(':operation')
  @RequireAccess('read')
  @HttpCode(200)
  async operation(@Param('operation') operation: string, @Body() body: unknown, @CurrentCaller() caller: Caller): Promise<object> {
    const handler = Object.hasOwn(this.operations, operation) ? this.operations[operation] : undefined;
    if (!handler) {
      throw new ApiError('VALIDATION_FAILED', `operation ${operation.slice(0, 64)} is not supported by gpubatch's AWS Batch API; it serves ${Object.keys(this.operations).join(', ')} and the tag operations`);
    }
    return handler(AwsInput.of(body), caller);
  }

  @Get('tags/:resourceArn')
  @RequireAccess('read')
  async listTags(@Param('resourceArn') resourceArn: string, @CurrentCaller() caller: Caller): Promise<object> {
    return this.tags.list(resourceArn, caller);
  }

  @Post('tags/:resourceArn')
  @RequireAccess('submit')
  @HttpCode(200)
  async tagResource(@Param('resourceArn') resourceArn: string, @Body() body: unknown, @CurrentCaller() caller: Caller): Promise<object> {
    const tags = AwsInput.of(body).map('tags');
    if (!tags) throw new ApiError('VALIDATION_FAILED', 'tags is required: a map of tag keys to values');
    return this.tags.tag(resourceArn, tags, caller);
  }

  @Delete('tags/:resourceArn')
  @RequireAccess('submit')
  @HttpCode(200)
  async untagResource(@Param('resourceArn') resourceArn: string, @Query('tagKeys') tagKeys: unknown, @CurrentCaller() caller: Caller): Promise<object> {
    const keys = tagKeys === undefined ? [] : Array.isArray(tagKeys) ? tagKeys : [tagKeys];
    if (keys.length === 0 || keys.some((k) => typeof k !== 'string')) throw new ApiError('VALIDATION_FAILED', 'tagKeys is required: one or more tag keys in the query');
    return this.tags.untag(resourceArn, keys as string[], caller);
  }
}
