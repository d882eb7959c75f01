import { Module } from '@nestjs/common';
import { JobDefinitionsModule } from '../job-definitions/job-definitions.module.js';
import { JobQueuesModule } from '../job-queues/job-queues.module.js';
import { JobsModule } from '../jobs/jobs.module.js';
import { PoolsModule } from '../pools/pools.module.js';
import { AwsBatchController } from './aws-batch.controller.js';
import { AwsComputeEnvironments } from './aws-compute-environments.js';
import { AwsJobDefinitions } from './aws-job-definitions.js';
import { AwsJobQueues } from './aws-job-queues.js';
import { AwsJobs } from './aws-jobs.js';
import { AwsTags } from './aws-tags.js';

/** The AWS Batch API over gpubatch's own services (docs/aws-batch.md): translation only, no scheduling logic of its own. */
@Module({
  imports: [JobDefinitionsModule, JobQueuesModule, JobsModule, PoolsModule],
  controllers: [AwsBatchController],
  providers: [AwsJobDefinitions, AwsJobQueues, AwsComputeEnvironments, AwsJobs, AwsTags],
})
export class AwsBatchModule {}
