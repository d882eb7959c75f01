import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { testEnv } from './test-env.js';

export type ApiCall = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** A JSON client for the API at `base`; a 204 has no body. */
export function apiClient(base: string): ApiCall {
  return async (method, path, body) => {
    const res = await fetch(base + path, {
      method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
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
  const cluster = new LocalCluster({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, ...sharedEnv });
  const port = await LocalCluster.freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = cluster.start('api', { PORT: String(port), HOST: '127.0.0.1' });
  await LocalCluster.waitForHttp(`${base}/health/ready`, api);
  cluster.start('scheduler', { SCHEDULER_INTERVAL_MS: '200', ...schedulerEnv });
  return { cluster, base, call: apiClient(base) };
}
