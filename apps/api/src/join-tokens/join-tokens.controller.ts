import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { PageQuery } from '../common/page.js';
import { ApiBadRequestResponse, ApiBearerAuth, ApiCreatedResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { RequireAccess } from '../auth/require-access.decorator.js';
import { ErrorResponse } from '../common/error.response.js';
import { CreateJoinTokenDto, JoinTokenListView, JoinTokenSecretView, JoinTokenView, JoinWorkerDto, WorkerCredentialsView } from './join-token.dto.js';
import { JoinTokensService } from './join-tokens.service.js';

@ApiTags('workers')
@Controller('api/v1')
export class JoinTokensController {
  constructor(@Inject(JoinTokensService) private readonly tokens: JoinTokensService) {}

  @Post('pools/:pool/join-tokens')
  @RequireAccess('operate')
  @ApiCreatedResponse({ type: JoinTokenSecretView, description: 'The token is in the reply once, never again' })
  @ApiNotFoundResponse({ type: ErrorResponse })
  create(@Param('pool') pool: string, @Body() dto: CreateJoinTokenDto): Promise<JoinTokenSecretView> {
    return this.tokens.create(pool, dto.name);
  }

  @Get('pools/:pool/join-tokens')
  @RequireAccess('operate')
  @ApiOkResponse({ type: JoinTokenListView })
  @ApiBadRequestResponse({ type: ErrorResponse })
  async list(@Param('pool') pool: string, @Query() query: PageQuery): Promise<JoinTokenListView> {
    const { rows, nextCursor } = await this.tokens.page(pool, query);
    return { joinTokens: rows, nextCursor };
  }

  @Post('join-tokens/:id/rotate')
  @HttpCode(200)
  @RequireAccess('operate')
  @ApiOkResponse({ type: JoinTokenSecretView, description: 'The new secret; the old one no longer joins' })
  rotate(@Param('id') id: string): Promise<JoinTokenSecretView> {
    return this.tokens.rotate(id);
  }

  @Delete('join-tokens/:id')
  @RequireAccess('operate')
  @ApiOkResponse({ type: JoinTokenView, description: 'Revoked: no worker can join with it' })
  revoke(@Param('id') id: string): Promise<JoinTokenView> {
    return this.tokens.revoke(id);
  }

  /** Authenticated by the join token itself (Authorization: Bearer), not by an API key. */
  @Post('workers/join')
  @HttpCode(200)
  @RequireAccess('public')
  @ApiBearerAuth()
  @ApiOkResponse({ type: WorkerCredentialsView })
  @ApiUnauthorizedResponse({ type: ErrorResponse, description: 'JOIN_TOKEN_INVALID' })
  @ApiForbiddenResponse({ type: ErrorResponse, description: 'WORKER_REVOKED' })
  join(@Req() req: { headers: Record<string, string | string[] | undefined> }, @Body() dto: JoinWorkerDto): Promise<WorkerCredentialsView> {
    const header = req.headers.authorization;
    const bearer = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : undefined;
    return this.tokens.join(bearer, dto.workerId, dto.pool);
  }

  @Post('workers/:id/revoke')
  @HttpCode(200)
  @RequireAccess('operate')
  @ApiOkResponse({ description: "The worker's Redis user is off and its reports are refused" })
  revokeWorker(@Param('id') id: string): Promise<{ workerId: string; revokedAt: string }> {
    return this.tokens.revokeWorker(id);
  }
}
