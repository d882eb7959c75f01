import { Module } from '@nestjs/common';
import { JobDefinitionsModule } from '../job-definitions/job-definitions.module.js';
import { JobQueuesModule } from '../job-queues/job-queues.module.js';
import { JobsController } from './jobs.controller.js';
import { JobsService } from './jobs.service.js';

@Module({
  imports: [JobDefinitionsModule, JobQueuesModule],
  controllers: [JobsController],
  providers: [JobsService],
})
export class JobsModule {}
