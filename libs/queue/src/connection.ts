import { Redis } from 'ioredis';

/**
 * A Redis connection. Consumers (BullMQ workers) must wait out outages:
 * `maxRetriesPerRequest: null` as BullMQ requires. Request paths (the API)
 * must fail fast instead of hanging a client while Redis is away.
 */
export function createRedis(url: string, name: string, role: 'consumer' | 'request' = 'consumer'): Redis {
  return new Redis(url, {
    connectionName: `gpubatch-${name}`,
    ...(role === 'consumer' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, commandTimeout: 2000 }),
  });
}

/** Closes a connection without waiting on a server that never answered (quit would retry forever). */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}
