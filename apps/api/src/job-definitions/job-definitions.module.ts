import { Module } from '@nestjs/common';
import { JobDefinitionsController } from './job-definitions.controller.js';
import { JobDefinitionsService } from './job-definitions.service.js';

@Module({
  controllers: [JobDefinitionsController],
  providers: [JobDefinitionsService],
  exports: [JobDefinitionsService],
})
export class JobDefinitionsModule {}
