import { Gauge, type Registry } from 'prom-client';
import { createMetricsRegistry, errorCounter } from '#libs/metrics';

/** What a worker measures (docs/metrics.md): one set per process. */
export class WorkerMetrics {
  readonly registry: Registry;
  readonly errors;
  /** Latest sample of each GPU of this machine. */
  readonly gpuUtilization: Gauge<'gpu'>;
  readonly gpuMemoryUsed: Gauge<'gpu'>;
  private running: () => number = () => 0;
  private lastHeartbeat: () => number | null = () => null;

  constructor(registry: Registry = createMetricsRegistry()) {
    this.registry = registry;
    const registers = [registry];
    this.errors = errorCounter(registry, 'Failures the worker survived, by kind: attempt (Docker failed midway), gpu_sampling, heartbeat');
    this.gpuUtilization = new Gauge({ name: 'gpubatch_worker_gpu_utilization_percent', help: "Each GPU's utilisation at the last sample (nvidia-smi)", labelNames: ['gpu'], registers });
    this.gpuMemoryUsed = new Gauge({ name: 'gpubatch_worker_gpu_memory_used_mib', help: "Each GPU's memory in use at the last sample (nvidia-smi)", labelNames: ['gpu'], registers });
    const self = this;
    new Gauge({
      name: 'gpubatch_worker_running_attempts', help: 'Attempts this worker holds (claimed, running or reporting)', registers,
      collect() { this.set(self.running()); },
    });
    new Gauge({
      name: 'gpubatch_worker_heartbeat_age_seconds', help: "Seconds since this worker's last heartbeat was written to Redis", registers,
      collect() {
        const at = self.lastHeartbeat();
        if (at !== null) this.set(Math.max(0, (Date.now() - at) / 1000));
      },
    });
  }

  /** Wires the gauges read at scrape time. */
  watch(running: () => number, lastHeartbeat: () => number | null): void {
    this.running = running;
    this.lastHeartbeat = lastHeartbeat;
  }
}

/** This process's worker metrics. */
export const workerMetrics = new WorkerMetrics();
