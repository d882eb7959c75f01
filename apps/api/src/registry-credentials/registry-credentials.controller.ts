import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Caller } from '../auth/caller.js';
import { CurrentCaller } from '../auth/current-caller.decorator.js';
import { RequireAccess } from '../auth/require-access.decorator.js';
import { ApiError } from '../common/api-error.js';
import { ErrorResponse } from '../common/error.response.js';
import { PutRegistryCredentialDto, RegistryCredentialListView, RegistryCredentialView } from './registry-credential.dto.js';
import { RegistryCredentialsService } from './registry-credentials.service.js';

/**
 * Private registry credentials, per project (its operators manage them; its
 * readers see which exist) and per pool (admins). Passwords go in, never out.
 */
@ApiTags('registry credentials')
@Controller('api/v1')
export class RegistryCredentialsController {
  constructor(@Inject(RegistryCredentialsService) private readonly credentials: RegistryCredentialsService) {}

  @Put('projects/:project/registry-credentials/:registry')
  @RequireAccess('submit')
  @ApiOkResponse({ type: RegistryCredentialView, description: "The project's jobs pull images of this registry with these credentials (before any pool's)" })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async putForProject(@Param('project') project: string, @Param('registry') registry: string, @Body() dto: PutRegistryCredentialDto, @CurrentCaller() caller: Caller): Promise<RegistryCredentialView> {
    projectRight(caller, project, 'operate');
    return this.credentials.put('project', project, registry, dto);
  }

  @Get('projects/:project/registry-credentials')
  @RequireAccess('read')
  @ApiOkResponse({ type: RegistryCredentialListView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async listForProject(@Param('project') project: string, @CurrentCaller() caller: Caller): Promise<RegistryCredentialListView> {
    projectRight(caller, project, 'read');
    return { credentials: await this.credentials.list('project', project) };
  }

  @Delete('projects/:project/registry-credentials/:registry')
  @RequireAccess('submit')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponse })
  async deleteForProject(@Param('project') project: string, @Param('registry') registry: string, @CurrentCaller() caller: Caller): Promise<void> {
    projectRight(caller, project, 'operate');
    await this.credentials.delete('project', project, registry);
  }

  @Put('pools/:pool/registry-credentials/:registry')
  @RequireAccess('admin')
  @ApiOkResponse({ type: RegistryCredentialView, description: "Jobs on the pool's workers pull images of this registry with these, unless their project has its own" })
  @ApiBadRequestResponse({ type: ErrorResponse })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async putForPool(@Param('pool') pool: string, @Param('registry') registry: string, @Body() dto: PutRegistryCredentialDto): Promise<RegistryCredentialView> {
    return this.credentials.put('pool', pool, registry, dto);
  }

  @Get('pools/:pool/registry-credentials')
  @RequireAccess('operate')
  @ApiOkResponse({ type: RegistryCredentialListView })
  async listForPool(@Param('pool') pool: string): Promise<RegistryCredentialListView> {
    return { credentials: await this.credentials.list('pool', pool) };
  }

  @Delete('pools/:pool/registry-credentials/:registry')
  @RequireAccess('admin')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponse })
  async deleteForPool(@Param('pool') pool: string, @Param('registry') registry: string): Promise<void> {
    await this.credentials.delete('pool', pool, registry);
  }
}

/** A project the caller cannot read does not exist for it (404); one it reads but may not change is 403. */
function projectRight(caller: Caller, project: string, access: 'read' | 'operate'): void {
  if (!caller.can('read', project)) throw new ApiError('PROJECT_NOT_FOUND', `project ${project} does not exist`);
  if (!caller.can(access, project)) throw new ApiError('FORBIDDEN', `this needs the ${access} right in project ${project}, which ${caller.id} does not hold`);
}
