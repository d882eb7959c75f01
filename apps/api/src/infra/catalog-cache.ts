import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { RedisKeys } from '#libs/queue';

/** How long a cached catalog entry may live when an invalidation message was lost (another API process changed it). */
export const CATALOG_TTL_MS = 2000;

/**
 * The submit path's cache of catalog rows (job queues, definition
 * revisions, pools): read on every submit, changed rarely. A change made
 * through this process clears it at once; other API processes hear of it on
 * a Redis channel, and the short TTL bounds how stale an entry can be if
 * that message is lost (Redis away, subscriber reconnecting). The cache
 * holds promises, so concurrent submits that miss share one query.
 */
export class CatalogCache {
  private readonly entries = new Map<string, { at: number; value: Promise<unknown> }>();
  private readonly channel: string;
  private subscriber: Redis | undefined;
  /** Bumped by every invalidation: a load that started before it must not be cached after it. */
  private generation = 0;

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly ttlMs = CATALOG_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.channel = RedisKeys.catalogChanged(redis.options.db);
  }

  /** Starts hearing other processes' changes. */
  async listen(): Promise<void> {
    this.subscriber = this.redis.duplicate({ connectionName: 'gpubatch-api-catalog', maxRetriesPerRequest: null, commandTimeout: undefined });
    this.subscriber.on('message', () => this.clear());
    this.subscriber.on('error', (err: Error) => this.logger.debug({ err }, 'catalog subscriber error'));
    // After a reconnect, changes may have been missed meanwhile.
    this.subscriber.on('ready', () => this.clear());
    await this.subscriber.subscribe(this.channel).catch((err: Error) =>
      this.logger.warn({ err }, 'catalog invalidation channel not subscribed; entries expire after their TTL'));
  }

  /** The cached value of `key`, loaded by `load` when absent or expired. A failed load is not cached. */
  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value as Promise<T>;
    const generation = this.generation;
    const value = load();
    this.entries.set(key, { at: now, value });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    void value.then(() => {
      if (generation !== this.generation && this.entries.get(key)?.value === value) this.entries.delete(key);
    }, () => undefined);
    return value;
  }

  /** After a catalog write: forgets every entry here and tells the other API processes. */
  async changed(): Promise<void> {
    this.clear();
    await this.redis.publish(this.channel, '1').catch((err: Error) =>
      this.logger.warn({ err }, 'catalog change not published; other API processes see it within the TTL'));
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }

  async close(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (sub) sub.disconnect();
  }
}
