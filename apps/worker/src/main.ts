import { loadWorkerConfig } from '#libs/config';
import { createLogger } from '#libs/log';
import { runMain } from '#libs/process';
import { startSimulatedFleet } from './simulated-fleet.js';
import { startWorker } from './worker-agent.js';
import { workerMetrics } from './metrics/worker-metrics.js';

await runMain('worker', async () => {
  const config = loadWorkerConfig();
  const logger = createLogger('worker', config.logLevel);
  const simulatedWorkers = Number(process.env.SIMULATED_WORKERS ?? '0');
  if (simulatedWorkers > 0) {
    if (!Number.isInteger(simulatedWorkers) || simulatedWorkers > 20_000) throw new Error('SIMULATED_WORKERS must be an integer 1..20000');
    const fleet = await startSimulatedFleet(config, simulatedWorkers, logger);
    return () => fleet.stop();
  }
  const agent = await startWorker(config, logger);
  // An operator's drain request ends with the worker out of the pool: nothing is left to do.
  void agent.left.then(() => process.exit(0));
  // Revoked, or Redis lost the ACL users (restarted without an ACL file): exit; a restart joins again.
  // Running containers are adopted by the next process.
  void agent.credentialsRejected.then((error) => {
    logger.error({ err: error }, 'Redis refused this worker\'s credentials; exiting to join again');
    process.exit(1);
  });
  return () => agent.stop();
}, { metrics: workerMetrics.registry });
