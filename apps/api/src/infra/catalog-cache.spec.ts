import type { Redis } from 'ioredis';
import { createLogger } from '#libs/log';
import { CatalogCache } from './catalog-cache.js';

// The channel itself is pinned by the integration test (two API instances); here only the cache's own rules.
const redis = { options: { db: 0 }, publish: async () => 1 } as unknown as Redis;

describe('CatalogCache', () => {
  it('serves a value for its TTL, then loads it again', async () => {
    let now = 1000;
    let loads = 0;
    const cache = new CatalogCache(redis, createLogger('t', 'silent'), 2000, () => now);
    const load = async () => ++loads;
    expect(await cache.get('q', load)).toBe(1);
    now += 1999;
    expect(await cache.get('q', load)).toBe(1);
    now += 1;
    expect(await cache.get('q', load)).toBe(2);
  });

  it('shares one load between concurrent misses and does not keep a failed one', async () => {
    let loads = 0;
    const cache = new CatalogCache(redis, createLogger('t', 'silent'), 2000);
    const [a, b] = await Promise.all([cache.get('q', async () => ++loads), cache.get('q', async () => ++loads)]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    await expect(cache.get('missing', async () => { throw new Error('no such queue'); })).rejects.toThrow('no such queue');
    expect(await cache.get('missing', async () => 'now there')).toBe('now there');
  });

  it('forgets everything on a change, including a load that was in flight when it happened', async () => {
    let loads = 0;
    const cache = new CatalogCache(redis, createLogger('t', 'silent'), 60_000);
    let release!: () => void;
    const slow = cache.get('q', () => new Promise<number>((r) => { release = () => r(++loads); }));
    await cache.changed();
    release();
    expect(await slow).toBe(1);
    expect(await cache.get('q', async () => ++loads)).toBe(2);
    await cache.changed();
    expect(await cache.get('q', async () => ++loads)).toBe(3);
  });
});
