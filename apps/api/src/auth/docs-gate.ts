import type { FastifyInstance } from 'fastify';
import { AuthService } from './auth.service.js';

const DOCS = /^\/docs(?:[/?#-]|$)/;

/**
 * The Swagger UI and its OpenAPI document need credentials like every other
 * route. A browser cannot send a bearer token when it opens a page, so here
 * HTTP Basic works too, with an API key as the password (the user name is
 * ignored): the browser asks once, and the UI's Authorize button then takes
 * the key for "Try it out".
 */
export function gateDocs(fastify: FastifyInstance, auth: AuthService): void {
  fastify.addHook('onRequest', async (request, reply) => {
    if (!DOCS.test(request.url)) return;
    if (await auth.authenticate(asBearer(request.headers.authorization))) return;
    await reply
      .code(401)
      .header('www-authenticate', 'Basic realm="gpubatch API docs: any user name, an API key as the password", charset="UTF-8"')
      .send({ statusCode: 401, code: 'UNAUTHENTICATED', message: 'the API docs need credentials: Authorization: Bearer <API key>, or Basic with the API key as the password' });
  });
}

/** `Basic base64(user:key)` as `Bearer key`; anything else as it is. */
function asBearer(authorization: string | undefined): string | undefined {
  const m = typeof authorization === 'string' ? /^Basic +([A-Za-z0-9+/=]{1,4096}) *$/i.exec(authorization) : null;
  if (!m) return authorization;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : `Bearer ${decoded.slice(colon + 1)}`;
}
