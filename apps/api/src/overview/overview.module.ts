import { Module } from '@nestjs/common';
import { OverviewController } from './overview.controller.js';
import { OverviewService } from './overview.service.js';

/** Aggregates for the dashboard's overview page (read-only). */
@Module({
  controllers: [OverviewController],
  providers: [OverviewService],
})
export class OverviewModule {}
