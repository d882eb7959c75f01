import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../common/api-error.js';
import { AuthService } from './auth.service.js';
import type { Caller } from './caller.js';
import { setCaller } from './current-caller.decorator.js';
import { KeyRateLimiter } from './key-rate-limiter.js';
import { isSigV4, SigV4Error } from './sigv4.js';
import { ACCESS_METADATA, type Access } from './require-access.decorator.js';

/**
 * The one gate of every route (APP_GUARD). A route that declares no access
 * level is refused to everyone: a new route cannot slip through unguarded.
 * Cluster-wide levels (operate, admin, observe) need the role on every project ('*');
 * read and submit need it in some project, and the services then check the
 * project of the job (or submit body) concerned.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(KeyRateLimiter) private readonly limiter: KeyRateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS_METADATA, [context.getHandler(), context.getClass()]);
    if (access === 'public') return true;
    const req = context.switchToHttp().getRequest<FastifyRequest & { rawBody?: Buffer }>();
    let caller: Caller | undefined;
    let refusal: SigV4Error | undefined;
    if (isSigV4(req.headers.authorization)) {
      // AWS clients (the AWS Batch API) sign with the key's id and secret instead of sending the key.
      try {
        caller = await this.auth.authenticateSigV4({ method: req.method, url: req.url, headers: req.headers, body: req.rawBody });
      } catch (err) {
        if (!(err instanceof SigV4Error)) throw err;
        refusal = err;
      }
    } else {
      caller = await this.auth.authenticate(req.headers.authorization);
    }
    if (!caller) {
      this.limit(`ip:${req.ip}`, context);
      throw refusal ?? new ApiError('UNAUTHENTICATED', 'credentials required: Authorization: Bearer <API key or OIDC token>, or an AWS Signature V4 made with a key; the key may be wrong, expired or revoked');
    }
    setCaller(req, caller);
    this.limit(caller.id, context);
    if (access === undefined) throw new ApiError('FORBIDDEN', 'this route declares no access level, so it is refused');
    const allowed = access === 'operate' || access === 'admin' || access === 'observe' ? caller.canEverywhere(access) : caller.canSomewhere(access);
    if (!allowed) throw new ApiError('FORBIDDEN', `this needs the ${access} right, which ${caller.id} does not hold`);
    return true;
  }

  private limit(tracker: string, context: ExecutionContext): void {
    const wait = this.limiter.take(tracker);
    if (wait === 0) return;
    void context.switchToHttp().getResponse<FastifyReply>().header('retry-after', String(wait));
    throw new ApiError('TOO_MANY_REQUESTS', `${tracker} is over its rate limit; retry in ${wait} s`);
  }
}
