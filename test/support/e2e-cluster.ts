import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { TEST_ADMIN_KEY, TEST_AUTH_ENV, testEnv } from './test-env.js';

export type ApiCall = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** A JSON client for the API at `base`, sending `key` (the test admin key by default); a 204 has no body. */
export function apiClient(base: string, key: string = TEST_ADMIN_KEY): ApiCall {
  return async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
  };
}

/**
 * The built API and scheduler as processes on the test Postgres and Redis,
 * the API ready; each test file starts the workers it needs.
 */
export async function startCluster(
  schedulerEnv: Record<string, string> = {},
  /** Given to every process of the cluster (the API, the scheduler and the workers started later). */
  sharedEnv: Record<string, string> = {},
): Promise<{ cluster: LocalCluster; base: string; call: ApiCall }> {
  const { databaseUrl, redisUrl } = testEnv();
  const cluster = new LocalCluster({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, ...TEST_AUTH_ENV, ...sharedEnv });
  const port = await LocalCluster.freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = cluster.start('api', { PORT: String(port), HOST: '127.0.0.1' });
  // Generous: a cold start on a loaded 2-core machine runs migrations and boots Nest.
  await LocalCluster.waitForHttp(`${base}/health/ready`, api, 90_000);
  cluster.start('scheduler', { SCHEDULER_INTERVAL_MS: '200', ...schedulerEnv });
  return { cluster, base, call: apiClient(base) };
}
