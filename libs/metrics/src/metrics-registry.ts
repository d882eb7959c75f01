import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

/**
 * A registry of one process's metrics, with prom-client's default process
 * metrics (CPU, memory, event-loop lag, GC, handles). A registry per process
 * rather than the global one: the all-in-one process serves the API's, the
 * scheduler's and the worker's side by side without clashing names.
 */
export function createMetricsRegistry(withDefaults = true): Registry {
  const registry = new Registry();
  if (!withDefaults) return registry;
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters, which promtool's lint refuses; nodejs_active_handles{type} and its siblings say the same by type.
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  return registry;
}

const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** `gpubatch_errors_total{kind}`: failures a process survived, by kind (a short stable name). */
export function errorCounter(registry: Registry, help: string): Counter<'kind'> {
  return new Counter({ name: 'gpubatch_errors_total', help, labelNames: ['kind'], registers: [registry] });
}

/**
 * The kind of a waiting job's reason, for `gpubatch_waiting_jobs{reason}`:
 * the upper-case word before the colon (`RESOURCE`, `PRIORITY`, `QUOTA`,
 * `DEPENDENCY`...), `SCHEDULER` for "Waiting for the scheduler", else `OTHER`.
 */
export function reasonKind(reason: string | null): string {
  const kind = /^([A-Z][A-Z_]{1,31}):/.exec(reason ?? '')?.[1];
  if (kind) return kind;
  return reason === 'Waiting for the scheduler' ? 'SCHEDULER' : 'OTHER';
}
