import { Body, Controller, Get, Inject, Param, Patch, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import { CreateProjectDto, ProjectView, UpdateProjectDto } from './dto/project.dto.js';
import { ProjectsService } from './projects.service.js';

@ApiTags('projects')
@Controller('api/v1/projects')
export class ProjectsController {
  constructor(@Inject(ProjectsService) private readonly projects: ProjectsService) {}

  @Post()
  @ApiCreatedResponse({ type: ProjectView, description: 'Jobs name their project at submit (default "default"); a project needs registering only for a budget or quota' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiConflictResponse({ type: ErrorResponse, description: 'PROJECT_EXISTS' })
  create(@Body() dto: CreateProjectDto): Promise<ProjectView> {
    return this.projects.create(dto);
  }

  @Get()
  @ApiOkResponse({ type: [ProjectView] })
  async list(): Promise<{ projects: ProjectView[] }> {
    return { projects: await this.projects.list() };
  }

  @Get(':name')
  @ApiOkResponse({ type: ProjectView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  get(@Param('name') name: string): Promise<ProjectView> {
    return this.projects.get(name);
  }

  @Patch(':name')
  @ApiOkResponse({ type: ProjectView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  update(@Param('name') name: string, @Body() dto: UpdateProjectDto): Promise<ProjectView> {
    return this.projects.update(name, dto);
  }
}
