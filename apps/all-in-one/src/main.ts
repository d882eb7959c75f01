import { loadApiConfig, loadSchedulerConfig, loadWorkerConfig } from '#libs/config';
import { createLogger } from '#libs/log';
import { runMain } from '#libs/process';
import { createApiApp } from '../../api/src/api-app.js';
import { startScheduler } from '../../scheduler/src/scheduler.js';
import { schedulerMetrics } from '../../scheduler/src/metrics/scheduler-metrics.js';
import { startWorker } from '../../worker/src/worker-agent.js';

// One process for one GPU server or a laptop: the API, a scheduler and a
// worker, each exactly as they run apart, configured by the same variables.
await runMain('all-in-one', async () => {
  const apiConfig = loadApiConfig();
  // Its own worker is in this process, so worker auth is off unless set: set
  // GPUBATCH_WORKER_AUTH=required (and give this worker WORKER_JOIN_TOKEN) once other machines join it.
  const schedulerConfig = loadSchedulerConfig({ GPUBATCH_WORKER_AUTH: 'off', ...process.env });
  const workerConfig = loadWorkerConfig();
  const api = await createApiApp(apiConfig, createLogger('api', apiConfig.logLevel));
  await api.listen(apiConfig.port, apiConfig.host);
  const scheduler = await startScheduler(schedulerConfig, createLogger('scheduler', schedulerConfig.logLevel));
  const worker = await startWorker(workerConfig, createLogger('worker', workerConfig.logLevel));
  return async () => {
    // Worker first: it drains its running attempts and reports them while the scheduler still records.
    await worker.stop();
    await scheduler.stop();
    await api.close();
  };
// The API serves its own /metrics; METRICS_PORT serves the scheduler's (the worker's are not served in this mode).
}, { metrics: schedulerMetrics.registry });
