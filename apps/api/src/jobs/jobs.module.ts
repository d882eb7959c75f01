import { LogFollowers } from './log-followers.js';
import { Module } from '@nestjs/common';
import { JobDefinitionsModule } from '../job-definitions/job-definitions.module.js';
import { JobQueuesModule } from '../job-queues/job-queues.module.js';
import { PoolsModule } from '../pools/pools.module.js';
import { JobsController } from './jobs.controller.js';
import { JobsBatchController } from './jobs-batch.controller.js';
import { JobsService } from './jobs.service.js';
import { JobStopService } from './job-stop.service.js';
import { JobLogsService } from './job-logs.service.js';

@Module({
  imports: [JobDefinitionsModule, JobQueuesModule, PoolsModule],
  controllers: [JobsController, JobsBatchController],
  providers: [JobsService, JobStopService, JobLogsService, LogFollowers],
  exports: [JobsService, JobStopService],
})
export class JobsModule {}
