import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequireAccess } from '../auth/require-access.decorator.js';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { ProjectAccess } from '../auth/project-access.js';
import { OverviewView } from './overview.view.js';
import { OverviewService } from './overview.service.js';

@ApiTags('overview')
@Controller('api/v1/overview')
export class OverviewController {
  constructor(@Inject(OverviewService) private readonly overview: OverviewService, @Inject(ProjectAccess) private readonly access: ProjectAccess) {}

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: OverviewView, description: 'The dashboard\'s first page: jobs per queue and state, GPUs allocated out of total, submits and starts per minute. Job figures count only the projects the caller may read.' })
  async get(@CurrentCaller() caller: Caller): Promise<OverviewView> {
    return this.overview.overview(this.access.readable(caller), new Date());
  }
}
