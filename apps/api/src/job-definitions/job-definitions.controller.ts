import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, type PipeTransform } from '@nestjs/common';
import { PageQuery } from '../common/page.js';
import { ApiBadRequestResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { JobDefinitionListView, JobDefinitionView } from './dto/job-definition.view.js';
import { RegisterJobDefinitionDto } from './dto/register-job-definition.dto.js';
import { JobDefinitionsService } from './job-definitions.service.js';
import { ErrorResponse } from '../common/error.response.js';
import { ApiError } from '../common/api-error.js';
import { RequireAccess } from '../auth/require-access.decorator.js';

/** Revisions count from 1 and fit a Postgres integer. */
class RevisionPipe implements PipeTransform<string, number> {
  transform(value: string): number {
    const n = Number(value);
    if (!/^[1-9][0-9]{0,9}$/.test(value) || n > 2_147_483_647) {
      throw new ApiError('VALIDATION_FAILED', 'revision must be a whole number from 1 to 2147483647');
    }
    return n;
  }
}

class ListJobDefinitionsQuery extends PageQuery {
  @ApiPropertyOptional({ description: "Only this definition's revisions" })
  @IsOptional() @IsString() @MaxLength(128)
  name?: string;
}

@ApiTags('job definitions')
@Controller('api/v1/job-definitions')
export class JobDefinitionsController {
  constructor(@Inject(JobDefinitionsService) private readonly definitions: JobDefinitionsService) {}

  @Post()
  @RequireAccess('submit')
  @ApiCreatedResponse({ type: JobDefinitionView, description: 'Registered; the same name again makes the next revision' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async register(@Body() dto: RegisterJobDefinitionDto): Promise<JobDefinitionView> {
    return JobDefinitionView.of(await this.definitions.register(dto));
  }

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: JobDefinitionListView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async list(@Query() query: ListJobDefinitionsQuery): Promise<JobDefinitionListView> {
    const { rows, nextCursor } = await this.definitions.page(query);
    return { jobDefinitions: rows.map(JobDefinitionView.of), nextCursor };
  }

  @Get(':name')
  @RequireAccess('read')
  @ApiOkResponse({ type: JobDefinitionView, description: 'The latest ACTIVE revision' })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async latest(@Param('name') name: string): Promise<JobDefinitionView> {
    return JobDefinitionView.of(await this.definitions.resolve(name));
  }

  @Get(':name/:revision')
  @RequireAccess('read')
  @ApiOkResponse({ type: JobDefinitionView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async describe(@Param('name') name: string, @Param('revision', RevisionPipe) revision: number): Promise<JobDefinitionView> {
    return JobDefinitionView.of(await this.definitions.resolve(name, revision));
  }

  @Delete(':name/:revision')
  @RequireAccess('submit')
  @HttpCode(200)
  @ApiOkResponse({ type: JobDefinitionView, description: 'Deregistered (INACTIVE); running jobs are unaffected' })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async deregister(@Param('name') name: string, @Param('revision', RevisionPipe) revision: number): Promise<JobDefinitionView> {
    return JobDefinitionView.of(await this.definitions.deregister(name, revision));
  }
}
