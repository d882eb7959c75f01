import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Caller } from './caller.js';

const CALLER = Symbol('gpubatch.caller');

/** The caller the guard authenticated, kept on the request (the audit hook reads it too). */
export function callerOf(req: object): Caller | undefined {
  return (req as { [CALLER]?: Caller })[CALLER];
}

export function setCaller(req: object, caller: Caller): void {
  (req as { [CALLER]?: Caller })[CALLER] = caller;
}

/** The authenticated caller of a route that is not public. */
export const CurrentCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): Caller => {
  const caller = callerOf(ctx.switchToHttp().getRequest());
  if (!caller) throw new Error('CurrentCaller on a route without an authenticated caller');
  return caller;
});
