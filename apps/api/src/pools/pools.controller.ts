import { Body, Controller, Get, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { PageQuery } from '../common/page.js';
import { ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import { CreatePoolDto, PoolListView, PoolView, UpdateContainerPolicyDto, UpdatePoolDto } from './dto/pool.dto.js';
import { PoolsService } from './pools.service.js';

@ApiTags('pools')
@Controller('api/v1/pools')
export class PoolsController {
  constructor(@Inject(PoolsService) private readonly pools: PoolsService) {}

  @Post()
  @RequireAccess('operate')
  @ApiCreatedResponse({ type: PoolView, description: 'A pool of workers (they join it by WORKER_POOL) and its price card' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiConflictResponse({ type: ErrorResponse, description: 'POOL_EXISTS' })
  async create(@Body() dto: CreatePoolDto): Promise<PoolView> {
    return PoolView.of(await this.pools.create(dto));
  }

  @Get()
  @RequireAccess('read')
  @ApiOkResponse({ type: PoolListView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async list(@Query() query: PageQuery): Promise<PoolListView> {
    const { rows, nextCursor } = await this.pools.page(query);
    return { pools: rows.map(PoolView.of), nextCursor };
  }

  @Get(':name')
  @RequireAccess('read')
  @ApiOkResponse({ type: PoolView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async get(@Param('name') name: string): Promise<PoolView> {
    return PoolView.of(await this.pools.get(name));
  }

  @Patch(':name')
  @RequireAccess('operate')
  @ApiOkResponse({ type: PoolView, description: 'New prices apply to attempts that start afterwards' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async update(@Param('name') name: string, @Body() dto: UpdatePoolDto): Promise<PoolView> {
    return PoolView.of(await this.pools.update(name, dto));
  }

  @Patch(':name/container-policy')
  @RequireAccess('admin')
  @ApiOkResponse({ type: PoolView, description: "Admins only: the pool's container policy; applies to attempts placed afterwards" })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async updateContainerPolicy(@Param('name') name: string, @Body() dto: UpdateContainerPolicyDto): Promise<PoolView> {
    return PoolView.of(await this.pools.updateContainerPolicy(name, dto));
  }
}
