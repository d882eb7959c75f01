import { Body, Controller, Get, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { PageQuery } from '../common/page.js';
import { ProjectAccess } from '../auth/project-access.js';
import { ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import { CreateProjectDto, ProjectListView, ProjectView, UpdateProjectDto } from './dto/project.dto.js';
import { ProjectsService } from './projects.service.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { ApiError } from '../common/api-error.js';

@ApiTags('projects')
@Controller('api/v1/projects')
export class ProjectsController {
  constructor(@Inject(ProjectsService) private readonly projects: ProjectsService, @Inject(ProjectAccess) private readonly access: ProjectAccess) {}

  @Post()
  @RequireAccess('admin')
  @ApiCreatedResponse({ type: ProjectView, description: 'Jobs name their project at submit (default "default"); a project needs registering only for a budget or quota' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiConflictResponse({ type: ErrorResponse, description: 'PROJECT_EXISTS' })
  create(@Body() dto: CreateProjectDto): Promise<ProjectView> {
    return this.projects.create(dto);
  }

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: ProjectListView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async list(@Query() query: PageQuery, @CurrentCaller() caller: Caller): Promise<ProjectListView> {
    // Spend and budgets of projects the caller cannot read are not shown.
    const { rows, nextCursor } = await this.projects.page(query, this.access.readable(caller));
    return { projects: rows, nextCursor };
  }

  @Get(':name')
  @RequireAccess('read')
  @ApiOkResponse({ type: ProjectView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  get(@Param('name') name: string, @CurrentCaller() caller: Caller): Promise<ProjectView> {
    if (!caller.can('read', name)) throw new ApiError('PROJECT_NOT_FOUND', `project ${name} does not exist`);
    return this.projects.get(name);
  }

  @Patch(':name')
  @RequireAccess('admin')
  @ApiOkResponse({ type: ProjectView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  update(@Param('name') name: string, @Body() dto: UpdateProjectDto): Promise<ProjectView> {
    return this.projects.update(name, dto);
  }
}
