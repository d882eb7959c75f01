import { Module } from '@nestjs/common';
import { JobQueuesController } from './job-queues.controller.js';
import { JobQueuesService } from './job-queues.service.js';

@Module({
  controllers: [JobQueuesController],
  providers: [JobQueuesService],
  exports: [JobQueuesService],
})
export class JobQueuesModule {}
