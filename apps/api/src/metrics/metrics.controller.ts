import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { RequireAccess } from '../auth/require-access.decorator.js';
import { apiMetrics } from './api-metrics.js';

@ApiTags('metrics')
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /** Cluster-wide figures of every project: a read role on every project ('*'), such as a scrape key (docs/security.md). */
  @Get()
  @RequireAccess('observe')
  @Header('content-type', apiMetrics.registry.contentType)
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format: process metrics, submits, errors, jobs by state, waiting reasons, GPUs, cost (docs/metrics.md)' })
  async metrics(): Promise<string> {
    return apiMetrics.scrape(this.db);
  }
}
