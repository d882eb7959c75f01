import { DataSource } from 'typeorm';
import { createDataSource, runMigrations } from '#libs/db';
import { testEnv } from './test-env.js';

/** A connection to the real test database with migrations applied (a no-op after the first file). */
export async function openTestDatabase(poolSize = 4): Promise<DataSource> {
  const db = createDataSource(testEnv().databaseUrl, poolSize);
  await db.initialize();
  await runMigrations(db);
  return db;
}
