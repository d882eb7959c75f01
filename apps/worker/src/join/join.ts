import type { WorkerConfig } from '#libs/config';
import type { Logger } from '#libs/log';
import { redisUrlWithCredentials } from '#libs/queue';

/** What a worker uses to reach Redis and to sign its reports. */
export interface WorkerIdentity {
  /** REDIS_URL with this worker's ACL user (or REDIS_URL itself in the dev mode). */
  redisUrl: string;
  /** HMAC key for attempt reports; null in the unauthenticated dev mode. */
  signingKey: string | null;
  /** True when the identity came from a join token. */
  joined: boolean;
}

export class JoinRefusedError extends Error {}

/**
 * With WORKER_JOIN_TOKEN, joins through the API (POST /api/v1/workers/join,
 * Authorization: Bearer <token>) and receives a Redis ACL user of its own and
 * a report-signing key; a new join replaces the previous ones. Without it, the
 * unauthenticated dev mode: REDIS_URL as given, reports unsigned.
 * An unreachable API is retried for `retryForMs`; a refusal (4xx) is final.
 */
export async function obtainIdentity(config: WorkerConfig, logger: Logger, retryForMs = 60_000): Promise<WorkerIdentity> {
  if (!config.joinToken) {
    logger.warn('WORKER_JOIN_TOKEN is not set: unauthenticated dev mode (REDIS_URL as given, unsigned reports)');
    return { redisUrl: config.redisUrl, signingKey: null, joined: false };
  }
  const url = new URL('/api/v1/workers/join', config.apiUrl ?? 'http://127.0.0.1:3000').toString();
  const deadline = Date.now() + retryForMs;
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${config.joinToken}` },
        body: JSON.stringify({ workerId: config.workerId, pool: config.pool }),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`cannot reach the API at ${url} to join: ${(error as Error).message}`);
      logger.warn({ err: error, url }, 'API unreachable; retrying the join');
      await new Promise((r) => setTimeout(r, delay));
      continue;
    }
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.ok && typeof body.redisUsername === 'string' && typeof body.redisPassword === 'string' && typeof body.signingKey === 'string') {
      logger.info({ workerId: config.workerId, pool: body.pool, redisUser: body.redisUsername }, 'joined with the join token');
      return { redisUrl: redisUrlWithCredentials(config.redisUrl, body.redisUsername, body.redisPassword), signingKey: body.signingKey, joined: true };
    }
    if (response.status >= 400 && response.status < 500) {
      throw new JoinRefusedError(`the API refused the join (${response.status} ${String(body.code ?? '')}): ${String(body.message ?? '')}`);
    }
    if (Date.now() > deadline) throw new Error(`joining failed: ${response.status} ${String(body.message ?? '')}`);
    logger.warn({ status: response.status }, 'join failed; retrying');
    await new Promise((r) => setTimeout(r, delay));
  }
}
