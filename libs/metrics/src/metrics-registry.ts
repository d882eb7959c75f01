import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

/**
 * A registry of one process's metrics, with prom-client's default process
 * metrics (CPU, memory, event-loop lag, GC, handles). A registry per process
 * rather than the global one: the all-in-one process serves the API's, the
 * scheduler's and the worker's side by side without clashing names.
 */
export function createMetricsRegistry(withDefaults = true): Registry {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  return registry;
}

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
