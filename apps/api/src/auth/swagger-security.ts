import type { OpenAPIObject } from '@nestjs/swagger';

const ERROR_REF = { $ref: '#/components/schemas/ErrorResponse' };

/**
 * Every operation but the probes needs a bearer token: Swagger says so (the
 * UI's Authorize button then sends it) and lists the 401 and 403 answers.
 */
export function documentSecurity(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    const isPublic = path.startsWith('/health/');
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item[method];
      if (!op) continue;
      if (isPublic) {
        op.security = [];
        continue;
      }
      op.security = [{ bearer: [] }];
      op.responses['401'] ??= { description: 'UNAUTHENTICATED: no, or no valid, bearer token', content: { 'application/json': { schema: ERROR_REF } } };
      op.responses['403'] ??= { description: 'FORBIDDEN: the caller\'s roles do not allow this', content: { 'application/json': { schema: ERROR_REF } } };
      op.responses['429'] ??= { description: 'TOO_MANY_REQUESTS: over this key\'s rate limit', content: { 'application/json': { schema: ERROR_REF } } };
    }
  }
}
