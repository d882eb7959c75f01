import { loadSchedulerConfig } from '#libs/config';
import { createLogger } from '#libs/log';
import { runMain } from '#libs/process';
import { schedulerMetrics } from './metrics/scheduler-metrics.js';
import { startScheduler } from './scheduler.js';

await runMain('scheduler', async () => {
  const config = loadSchedulerConfig();
  const scheduler = await startScheduler(config, createLogger('scheduler', config.logLevel));
  return () => scheduler.stop();
}, { metrics: schedulerMetrics.registry });
