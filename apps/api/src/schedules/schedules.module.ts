import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module.js';
import { ScheduleFiringProcessor } from './schedule-firing.processor.js';
import { ScheduleTriggers } from './schedule-triggers.js';
import { SchedulesController } from './schedules.controller.js';
import { SchedulesService } from './schedules.service.js';

/** Cron schedules: CRUD over Postgres, BullMQ job schedulers in Redis, and the consumer that submits each tick's job. */
@Module({
  imports: [JobsModule],
  controllers: [SchedulesController],
  providers: [SchedulesService, ScheduleTriggers, ScheduleFiringProcessor],
})
export class SchedulesModule {}
