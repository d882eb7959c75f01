import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { DataSource } from 'typeorm';
import { RedisKeys } from '#libs/queue';
import { CATALOG_REREAD_MS, QueueCatalogSystem } from '../../apps/scheduler/src/placement/queue-catalog.system.js';
import { openTestDatabase } from '../support/database.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const logger = pino({ level: 'silent' });

describe('the scheduler\'s queue catalog: kept between passes until the API announces a change (real Postgres and Redis)', () => {
  let db: DataSource;
  let redis: Redis;
  const prefix = `catalog-${randomUUID().slice(0, 8)}`;
  const channel = () => RedisKeys.catalogChanged(redis.options.db);

  beforeAll(async () => {
    db = await openTestDatabase(2);
    redis = new Redis(testEnv().redisUrl);
  });

  afterAll(async () => {
    await db.query(`DELETE FROM job_queues WHERE name LIKE $1`, [`${prefix}%`]);
    await db.destroy();
    redis.disconnect();
  });

  const addQueue = (name: string) =>
    db.query(`INSERT INTO job_queues (name, priority, state, pools) VALUES ($1, 1, 'ENABLED', '{default}')`, [`${prefix}-${name}`]);
  const names = (catalog: QueueCatalogSystem) => catalog.queues.map((q) => q.name).filter((n) => n.startsWith(prefix)).sort();

  it('reads once, then only on an announcement, at the re-read interval, or every pass while it cannot hear', async () => {
    let announced = 0;
    const t0 = 1_000_000;
    const catalog = new QueueCatalogSystem(db, t0, () => announced++);
    try {
      catalog.listen(testEnv().redisUrl, logger);
      await waitFor('the catalog channel subscribed', () => catalog.listening, 10_000);
      const [, subscribers] = (await redis.pubsub('NUMSUB', channel())) as [string, number];
      expect(subscribers).toBeGreaterThanOrEqual(1);
      await addQueue('a');
      expect(await catalog.run(t0)).toBe(true);
      expect(names(catalog)).toEqual([`${prefix}-a`]);

      // A change made behind the API's back is not read by the next passes...
      await addQueue('b');
      expect(await catalog.run(t0 + 10)).toBe(false);
      expect(names(catalog)).toEqual([`${prefix}-a`]);

      // ...until the API announces one (and the announcement asks for a pass)...
      await redis.publish(channel(), '1');
      await waitFor('the announcement heard', () => announced === 1, 10_000);
      expect(await catalog.run(t0 + 20)).toBe(true);
      expect(names(catalog)).toEqual([`${prefix}-a`, `${prefix}-b`]);

      // ...or the re-read interval has passed: a lost announcement costs at most that long.
      await addQueue('c');
      expect(await catalog.run(t0 + 30)).toBe(false);
      expect(await catalog.run(t0 + 20 + CATALOG_REREAD_MS)).toBe(true);
      expect(names(catalog)).toContain(`${prefix}-c`);
    } finally {
      await catalog.close();
    }

    // Not hearing the channel (closed here; Redis away in life), it reads every pass.
    await addQueue('d');
    expect(await catalog.run(t0 + 40 + CATALOG_REREAD_MS)).toBe(true);
    expect(names(catalog)).toContain(`${prefix}-d`);
  });

  it('reads every pass while the channel cannot be reached (Redis away)', async () => {
    const t0 = 2_000_000;
    const catalog = new QueueCatalogSystem(db, t0);
    try {
      catalog.listen('redis://127.0.0.1:1', logger); // nothing listens there
      expect(catalog.listening).toBe(false);
      await addQueue('e');
      await catalog.run(t0);
      expect(names(catalog)).toContain(`${prefix}-e`);
      await addQueue('f');
      expect(await catalog.run(t0 + 10)).toBe(true);
      expect(names(catalog)).toContain(`${prefix}-f`);
    } finally {
      await catalog.close();
    }
  });
});
