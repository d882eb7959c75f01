import { Gauge, Histogram, type Registry } from 'prom-client';
import { createMetricsRegistry, errorCounter } from '#libs/metrics';

/**
 * What a scheduler replica measures (docs/metrics.md). One set per process:
 * the systems that observe import it, as they import their logger's calls.
 */
export class SchedulerMetrics {
  readonly registry: Registry;
  /** Seconds one placement pass (the core's decision, its commit and the reasons) takes. */
  readonly placementPass: Histogram;
  /** Seconds from a job's submit to its first container start. */
  readonly submitToStart: Histogram<'queue'>;
  /** Seconds each system of a pass takes before placement: what delays the next placement besides placement itself. */
  readonly systemRun: Histogram<'system'>;
  readonly errors;
  private leader: () => boolean = () => false;
  private heartbeats: () => { workerId: string; pool: string; heartbeatAt: number }[] = () => [];

  constructor(registry: Registry = createMetricsRegistry()) {
    this.registry = registry;
    this.placementPass = new Histogram({
      name: 'gpubatch_placement_pass_duration_seconds', help: 'Duration of a placement pass over the runnable jobs',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
    });
    this.submitToStart = new Histogram({
      name: 'gpubatch_submit_to_start_seconds', help: "From a job's submit to its first container start (container's real start time)",
      labelNames: ['queue'], buckets: [0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600], registers: [registry],
    });
    this.systemRun = new Histogram({
      name: 'gpubatch_scheduler_system_duration_seconds', help: 'Duration of one run of a scheduler system (liveness, intake, metering...) in a pass, before placement',
      labelNames: ['system'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
    });
    this.errors = errorCounter(registry, 'Failures the scheduler survived, by kind: scheduling_pass, system_<name>, report_recording, report_refused, dispatch');
    const self = this;
    new Gauge({
      name: 'gpubatch_scheduler_leader', help: '1 while this replica leads, 0 on a standby', registers: [registry],
      collect() { this.set(self.leader() ? 1 : 0); },
    });
    new Gauge({
      name: 'gpubatch_worker_heartbeat_age_seconds', labelNames: ['worker', 'pool'] as const, registers: [registry],
      help: "Seconds since each live worker's last heartbeat (by the worker's clock), as the leading scheduler sees them; standbys report none",
      collect() {
        this.reset();
        const now = Date.now();
        for (const h of self.heartbeats()) this.set({ worker: h.workerId, pool: h.pool }, Math.max(0, (now - h.heartbeatAt) / 1000));
      },
    });
  }

  /** Wires the gauges read at scrape time: leadership, and the leader's view of the workers. */
  watch(leader: () => boolean, heartbeats: () => { workerId: string; pool: string; heartbeatAt: number }[]): void {
    this.leader = leader;
    this.heartbeats = heartbeats;
  }
}

/** This process's scheduler metrics. */
export const schedulerMetrics = new SchedulerMetrics();
