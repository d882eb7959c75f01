import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { testEnv } from './test-env.js';

/**
 * Empties the test database and the test Redis database, for tests that run
 * a scheduler (it acts on every runnable job and worker it can see).
 */
export async function resetState(db: DataSource): Promise<void> {
  await db.query(`TRUNCATE usage, job_logs, job_events, job_dependencies, job_attempts, gpu_holds, jobs, job_definitions, job_queues, workers, schedules,
    pools, projects RESTART IDENTITY CASCADE`);
  // As the migration leaves it: the pool workers join by default, priced at zero.
  await db.query(`INSERT INTO pools (name) VALUES ('default')`);
  const redis = new Redis(testEnv().redisUrl);
  try {
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}
