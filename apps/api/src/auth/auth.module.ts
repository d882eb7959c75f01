import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard.js';
import { AuthService } from './auth.service.js';
import { IdentityController } from './identity.controller.js';
import { IdentityService } from './identity.service.js';
import { KeyRateLimiter } from './key-rate-limiter.js';
import { ProjectAccess } from './project-access.js';

/** Identity (API keys, OIDC), roles per project, the guard of every route, and the audit log. */
@Global()
@Module({})
export class AuthModule {
  static forRoot(): DynamicModule {
    return {
      module: AuthModule,
      controllers: [IdentityController],
      providers: [AuthService, IdentityService, KeyRateLimiter, ProjectAccess, { provide: APP_GUARD, useClass: AuthGuard }],
      exports: [AuthService, ProjectAccess],
    };
  }
}
