import type { FastifyInstance } from 'fastify';
import type { DataSource } from 'typeorm';
import type { Logger } from '#libs/log';
import { callerOf } from './current-caller.decorator.js';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every write (any method but GET, HEAD, OPTIONS), allowed or refused, lands
 * in the audit log: who, what, the answer, when and from where. Written once
 * the reply has gone, so it adds nothing to the caller's latency.
 */
export function recordWrites(fastify: FastifyInstance, db: DataSource, logger: Logger): void {
  fastify.addHook('onResponse', async (request, reply) => {
    if (READS.has(request.method)) return;
    const path = request.url.length > 2048 ? `${request.url.slice(0, 2048)}…` : request.url;
    try {
      await db.query(
        `INSERT INTO audit_log (actor, method, path, status, address) VALUES ($1, $2, $3, $4, $5)`,
        [callerOf(request)?.id ?? null, request.method.slice(0, 16), path.replace(/\u0000/g, ''), reply.statusCode, request.ip ?? null],
      );
    } catch (err) {
      logger.error({ err, method: request.method, path }, 'could not write the audit log');
    }
  });
}
