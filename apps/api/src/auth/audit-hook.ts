import type { FastifyInstance } from 'fastify';
import type { DataSource } from 'typeorm';
import type { Logger } from '#libs/log';
import { callerOf } from './current-caller.decorator.js';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** The AWS Batch API's reads travel as POST (restJson1): reads all the same, and pollers call them often. */
const AWS_BATCH_READS = /^\/v1\/(describe|list)[a-z]*(\?|$)/;
/** Rows wait at most this long in memory before one multi-row INSERT writes them. */
const FLUSH_MS = 20;
const BATCH_MAX = 500;

type Row = [actor: string | null, method: string, path: string, status: number, address: string | null, at: Date];

/**
 * Every write (any method but GET, HEAD, OPTIONS), allowed or refused, lands
 * in the audit log: who, what, the answer, when and from where. Rows are
 * taken once the reply has gone and written in batches (one INSERT per
 * FLUSH_MS at most): a row per request cost each submit several percent of
 * the API's CPU. The price: a process killed outright loses at most its
 * last FLUSH_MS of rows; a normal shutdown flushes them (onClose).
 */
export function recordWrites(fastify: FastifyInstance, db: DataSource, logger: Logger): void {
  let pending: Row[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const rows = pending;
    pending = [];
    if (rows.length === 0) return writing;
    const values = rows.map((_, i) => `($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`).join(', ');
    writing = writing.then(() => db.query(`INSERT INTO audit_log (actor, method, path, status, address, at) VALUES ${values}`, rows.flat()))
      .then(() => undefined)
      .catch((err: unknown) => logger.error({ err, rows: rows.length }, 'could not write the audit log'));
    return writing;
  };

  fastify.addHook('onResponse', async (request, reply) => {
    if (READS.has(request.method) || AWS_BATCH_READS.test(request.url)) return;
    const path = request.url.length > 2048 ? `${request.url.slice(0, 2048)}…` : request.url;
    pending.push([callerOf(request)?.id ?? null, request.method.slice(0, 16), path.replace(/\u0000/g, ''), reply.statusCode, request.ip ?? null, new Date()]);
    if (pending.length >= BATCH_MAX) void flush();
    else timer ??= setTimeout(() => void flush(), FLUSH_MS);
  });
  fastify.addHook('onClose', async () => {
    await flush();
  });
}
