import { loadSchedulerConfig } from '#libs/config';
import { createDataSource, runMigrations } from './data-source.js';

// `npm run migrate`: applies pending migrations to DATABASE_URL.
try {
  const dataSource = createDataSource(loadSchedulerConfig().databaseUrl, 2);
  await dataSource.initialize();
  await runMigrations(dataSource);
  console.log('migrations applied');
  await dataSource.destroy();
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
