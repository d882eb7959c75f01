import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { PageQuery } from '../common/page.js';
import {
  ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags,
} from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import { CreateScheduleDto } from './dto/create-schedule.dto.js';
import { ScheduleListView, ScheduleView } from './dto/schedule.view.js';
import { SchedulesService } from './schedules.service.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { ProjectAccess } from '../auth/project-access.js';

@ApiTags('schedules')
@Controller('api/v1/schedules')
export class SchedulesController {
  constructor(@Inject(SchedulesService) private readonly schedules: SchedulesService, @Inject(ProjectAccess) private readonly access: ProjectAccess) {}

  @Post()
  @RequireAccess('submit')
  @ApiCreatedResponse({ type: ScheduleView, description: 'Committed to Postgres and armed; each tick submits a job tagged gpubatch:schedule=<name>' })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'A field breaks its rule (cron, timezone, submit.<field>); the message names it' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'JOB_QUEUE_NOT_FOUND or DEFINITION_NOT_FOUND: the submit body names one that does not exist' })
  @ApiConflictResponse({ type: ErrorResponse, description: 'SCHEDULE_EXISTS, or DEFINITION_INACTIVE for a pinned revision' })
  async create(@Body() dto: CreateScheduleDto, @CurrentCaller() caller: Caller): Promise<ScheduleView> {
    this.access.submit(caller, dto.submit.project);
    return ScheduleView.of(await this.schedules.create(dto));
  }

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: ScheduleListView })
  async list(@Query() query: PageQuery, @CurrentCaller() caller: Caller): Promise<ScheduleListView> {
    const now = new Date();
    const { rows, nextCursor } = await this.schedules.page(query, this.access.readable(caller));
    return { schedules: rows.map((s) => ScheduleView.of(s, now)), nextCursor };
  }

  @Get(':name')
  @RequireAccess('read')
  @ApiOkResponse({ type: ScheduleView })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'SCHEDULE_NOT_FOUND' })
  async get(@Param('name') name: string, @CurrentCaller() caller: Caller): Promise<ScheduleView> {
    await this.access.schedule(caller, name, 'read');
    return ScheduleView.of(await this.schedules.get(name));
  }

  @Post(':name/pause')
  @RequireAccess('submit')
  @HttpCode(200)
  @ApiOkResponse({ type: ScheduleView, description: 'PAUSED: no tick submits a job until resumed; pausing a PAUSED schedule changes nothing' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'SCHEDULE_NOT_FOUND' })
  async pause(@Param('name') name: string, @CurrentCaller() caller: Caller): Promise<ScheduleView> {
    await this.access.schedule(caller, name, 'submit');
    return ScheduleView.of(await this.schedules.pause(name));
  }

  @Post(':name/resume')
  @RequireAccess('submit')
  @HttpCode(200)
  @ApiOkResponse({ type: ScheduleView, description: 'ACTIVE again from the next tick; ticks missed while PAUSED are not caught up' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'SCHEDULE_NOT_FOUND' })
  async resume(@Param('name') name: string, @CurrentCaller() caller: Caller): Promise<ScheduleView> {
    await this.access.schedule(caller, name, 'submit');
    return ScheduleView.of(await this.schedules.resume(name));
  }

  @Delete(':name')
  @RequireAccess('submit')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted; the jobs it submitted keep their tag' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'SCHEDULE_NOT_FOUND' })
  async delete(@Param('name') name: string, @CurrentCaller() caller: Caller): Promise<void> {
    await this.access.schedule(caller, name, 'submit');
    await this.schedules.delete(name);
  }
}
