import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type { ApiConfig } from '#libs/config';
import { AuthGuard } from './auth.guard.js';
import { AuthService } from './auth.service.js';
import { IdentityController } from './identity.controller.js';
import { IdentityService } from './identity.service.js';
import { KeyThrottlerGuard } from './key-throttler.guard.js';
import { ProjectAccess } from './project-access.js';

/** Identity (API keys, OIDC), roles per project, the guard of every route, and the audit log. */
@Global()
@Module({})
export class AuthModule {
  static forRoot(config: ApiConfig): DynamicModule {
    return {
      module: AuthModule,
      imports: [ThrottlerModule.forRoot({ throttlers: [{ name: 'key', ttl: config.auth.rateLimit.windowSeconds * 1000, limit: config.auth.rateLimit.limit }] })],
      controllers: [IdentityController],
      providers: [AuthService, IdentityService, KeyThrottlerGuard, ProjectAccess, { provide: APP_GUARD, useClass: AuthGuard }],
      exports: [AuthService, ProjectAccess],
    };
  }
}
