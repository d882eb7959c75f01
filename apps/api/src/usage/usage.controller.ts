import { Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ErrorResponse } from '../common/error.response.js';
import { UsageQuery, UsageReport } from './dto/usage.dto.js';
import { toCsv } from './usage-report.js';
import { UsageService } from './usage.service.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { ProjectAccess } from '../auth/project-access.js';

// idleGpuHours last: it came later, and CSV readers that go by position keep working.
const FIGURES = ['currency', 'attempts', 'gpuHours', 'vcpuHours', 'memoryGiBHours', 'cost', 'includesRunning', 'idleGpuHours'] as const;

@ApiTags('usage')
@Controller('api/v1/usage')
export class UsageController {
  constructor(@Inject(UsageService) private readonly usage: UsageService, @Inject(ProjectAccess) private readonly access: ProjectAccess) {}

  @Get()
  @RequireAccess('read')
  @ApiProduces('application/json', 'text/csv')
  @ApiOkResponse({ type: UsageReport, description: 'Accept: text/csv returns the grouped rows as CSV. Only the projects the caller may read are counted.' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async report(@Query() query: UsageQuery, @Headers('accept') accept: string | undefined, @Res({ passthrough: true }) reply: FastifyReply,
    @CurrentCaller() caller: Caller): Promise<UsageReport | string> {
    // Usage of projects the caller cannot read is in neither its rows nor its totals.
    const report = await this.usage.report(query, new Date(), this.access.readable(caller));
    if (!accept?.includes('text/csv')) return report;
    reply.header('content-type', 'text/csv; charset=utf-8');
    // Ungrouped, the per-currency totals are the rows.
    const rows: Record<string, unknown>[] = report.groupBy.length ? report.rows : report.totals.map((t) => ({ ...t }));
    return toCsv([...report.groupBy, ...FIGURES], rows.map((r) => [...report.groupBy, ...FIGURES].map((k) => r[k])));
  }
}
