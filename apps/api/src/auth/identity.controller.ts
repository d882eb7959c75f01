import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ErrorResponse } from '../common/error.response.js';
import type { Caller } from './caller.js';
import { CurrentCaller } from './current-caller.decorator.js';
import {
  ApiKeyListView, ApiKeyView, AuditLogView, CreateApiKeyDto, CreatedApiKeyView, GrantRoleDto, PageQuery, RoleBindingListView, RoleBindingView, WhoAmIView,
} from './dto/api-key.dto.js';
import { IdentityService } from './identity.service.js';
import { RequireAccess } from './require-access.decorator.js';

@ApiTags('identity')
@Controller('api/v1')
export class IdentityController {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}

  @Post('api-keys')
  @RequireAccess('admin')
  @ApiCreatedResponse({ type: CreatedApiKeyView, description: 'key is shown this once; only its hash is stored' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async createKey(@Body() dto: CreateApiKeyDto, @CurrentCaller() caller: Caller): Promise<CreatedApiKeyView> {
    return this.identity.createKey(dto, caller);
  }

  @Get('api-keys')
  @RequireAccess('admin')
  @ApiOkResponse({ type: ApiKeyListView })
  async listKeys(@Query() query: PageQuery): Promise<ApiKeyListView> {
    return this.identity.listKeys(query);
  }

  @Get('api-keys/:id')
  @RequireAccess('admin')
  @ApiOkResponse({ type: ApiKeyView })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async getKey(@Param('id') id: string): Promise<ApiKeyView> {
    return this.identity.getKey(id);
  }

  @Delete('api-keys/:id')
  @RequireAccess('admin')
  @ApiOkResponse({ type: ApiKeyView, description: 'Revoked: refused from now on (other API processes within 5 s)' })
  @ApiNotFoundResponse({ type: ErrorResponse })
  async revokeKey(@Param('id') id: string): Promise<ApiKeyView> {
    return this.identity.revokeKey(id);
  }

  @Get('role-bindings')
  @RequireAccess('admin')
  @ApiOkResponse({ type: RoleBindingListView })
  async listBindings(@Query() query: PageQuery): Promise<RoleBindingListView> {
    return this.identity.listBindings(query);
  }

  @Put('role-bindings')
  @RequireAccess('admin')
  @ApiOkResponse({ type: RoleBindingView, description: 'The subject now holds this role in the project (replacing its previous one there)' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async grant(@Body() dto: GrantRoleDto): Promise<RoleBindingView> {
    return this.identity.grant(dto);
  }

  @Delete('role-bindings')
  @RequireAccess('admin')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponse })
  async ungrant(@Query('subject') subject: string, @Query('project') project: string): Promise<void> {
    await this.identity.ungrant(String(subject ?? ''), String(project ?? ''));
  }

  @Get('audit-log')
  @RequireAccess('admin')
  @ApiOkResponse({ type: AuditLogView, description: 'Every write (and refused write), newest first' })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async auditLog(@Query() query: PageQuery): Promise<AuditLogView> {
    return this.identity.auditLog(query);
  }

  @Get('whoami')
  @RequireAccess('read')
  @ApiOkResponse({ type: WhoAmIView })
  whoami(@CurrentCaller() caller: Caller): WhoAmIView {
    return { id: caller.id, roles: [...caller.roles].map(([project, role]) => ({ project, role })) };
  }
}
