import path from 'node:path';
import type { WorkerConfig } from '#libs/config';
import type { Logger } from '#libs/log';
import { startWorker, type WorkerAgent } from './worker-agent.js';

// Joins in waves: a thousand workers connecting at once would stall Redis and the event loop together.
const JOIN_WAVE = 50;

/**
 * Many simulated workers in one process (benchmarks of the control plane):
 * each is a whole worker agent with its own id `<WORKER_ID>-<n>`, Redis
 * connections, heartbeat, outbox and dispatch queue; only the runner is
 * simulated. Refuses the Docker runtime: one machine is one real worker.
 */
export async function startSimulatedFleet(config: WorkerConfig, count: number, logger: Logger): Promise<{ agents: WorkerAgent[]; stop(): Promise<void> }> {
  if (config.runtime !== 'simulated') throw new Error('SIMULATED_WORKERS needs WORKER_RUNTIME=simulated');
  const agents: WorkerAgent[] = [];
  for (let first = 0; first < count; first += JOIN_WAVE) {
    const wave = Array.from({ length: Math.min(JOIN_WAVE, count - first) }, (_, k) => first + k);
    agents.push(...await Promise.all(wave.map((n) => startWorker({
      ...config, workerId: `${config.workerId}-${n}`, stateDir: path.join(config.stateDir, String(n)),
    }, logger))));
  }
  logger.info({ workers: count }, 'simulated fleet joined');
  return { agents, stop: async () => { await Promise.all(agents.map((a) => a.stop())); } };
}
