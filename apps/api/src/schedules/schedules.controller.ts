import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags,
} from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import { CreateScheduleDto } from './dto/create-schedule.dto.js';
import { ScheduleListView, ScheduleView } from './dto/schedule.view.js';
import { SchedulesService } from './schedules.service.js';

@ApiTags('schedules')
@Controller('api/v1/schedules')
export class SchedulesController {
  constructor(@Inject(SchedulesService) private readonly schedules: SchedulesService) {}

  @Post()
  @ApiCreatedResponse({ type: ScheduleView, description: 'Committed to Postgres and armed; each tick submits a job tagged gpubatch:schedule=<name>' })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'A field breaks its rule (cron, timezone, submit.<field>); the message names it' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'JOB_QUEUE_NOT_FOUND or DEFINITION_NOT_FOUND: the submit body names one that does not exist' })
  @ApiConflictResponse({ type: ErrorResponse, description: 'SCHEDULE_EXISTS, or DEFINITION_INACTIVE for a pinned revision' })
  async create(@Body() dto: CreateScheduleDto): Promise<ScheduleView> {
    return ScheduleView.of(await this.schedules.create(dto));
  }

  @Get()
  @ApiOkResponse({ type: ScheduleListView })
  async list(): Promise<ScheduleListView> {
    const now = new Date();
    return { schedules: (await this.schedules.list()).map((s) => ScheduleView.of(s, now)) };
  }

  @Get(':name')
  @ApiOkResponse({ type: ScheduleView })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'SCHEDULE_NOT_FOUND' })
  async get(@Param('name') name: string): Promise<ScheduleView> {
    return ScheduleView.of(await this.schedules.get(name));
  }

  @Post(':name/pause')
  @HttpCode(200)
  @ApiOkResponse({ type: ScheduleView, description: 'PAUSED: no tick submits a job until resumed; pausing a PAUSED schedule changes nothing' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'SCHEDULE_NOT_FOUND' })
  async pause(@Param('name') name: string): Promise<ScheduleView> {
    return ScheduleView.of(await this.schedules.pause(name));
  }

  @Post(':name/resume')
  @HttpCode(200)
  @ApiOkResponse({ type: ScheduleView, description: 'ACTIVE again from the next tick; ticks missed while PAUSED are not caught up' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'SCHEDULE_NOT_FOUND' })
  async resume(@Param('name') name: string): Promise<ScheduleView> {
    return ScheduleView.of(await this.schedules.resume(name));
  }

  @Delete(':name')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted; the jobs it submitted keep their tag' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'SCHEDULE_NOT_FOUND' })
  async delete(@Param('name') name: string): Promise<void> {
    await this.schedules.delete(name);
  }
}
