import { performance } from 'node:perf_hooks';
import type { Logger } from '#libs/log';
import type { DispatchPayload, WorkerQueues } from '#libs/queue';
import { schedulerMetrics } from '../metrics/scheduler-metrics.js';

// Sends timed for the pass stats file, kept until a pass line takes them.
const MAX_SENDS_KEPT = 100;

/**
 * Sends committed placements to the workers' dispatch queues behind the
 * pass that committed them, so the next pass decides while they go out.
 * Sends run one at a time in the order of the passes: a worker gets a pass's
 * attempts after the previous pass's. Only committed attempts come here
 * (Postgres is the truth): a send that fails, or one lost because the
 * scheduler stopped before it, is re-added from Postgres by the next
 * leader's rebuild or by intake's sweep of stale STARTING attempts (the
 * dispatch id makes a repeated add a no-op).
 */
export class DispatchSender {
  /** The send in progress and those queued behind it. */
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly sends: { attempts: number; ms: number }[] = [];

  constructor(
    private readonly queues: WorkerQueues,
    private readonly logger: Logger,
  ) {}

  /** Queues one pass's placements, by worker; returns at once. */
  send(byWorker: ReadonlyMap<string, readonly DispatchPayload[]>): void {
    if (byWorker.size === 0) return;
    this.pending++;
    this.tail = this.tail.then(async () => {
      const started = performance.now();
      try {
        await this.queues.dispatchAll(byWorker);
      } catch (err) {
        // The attempts are committed as STARTING: the sweep of stale STARTING attempts (or the next leader) re-adds them.
        schedulerMetrics.errors.inc({ kind: 'dispatch' });
        this.logger.error({ err, workers: byWorker.size, attempts: count(byWorker) }, 'dispatch failed');
      } finally {
        this.pending--;
        if (this.sends.length < MAX_SENDS_KEPT) this.sends.push({ attempts: count(byWorker), ms: Math.round((performance.now() - started) * 10) / 10 });
      }
    });
  }

  /** The sends answered since the last call, with their attempts and duration (the pass stats file). */
  takeSends(): { attempts: number; ms: number }[] {
    return this.sends.splice(0);
  }

  /** Sends queued and not yet answered. */
  get inFlight(): number {
    return this.pending;
  }

  /** Resolves once everything queued so far has been sent (or failed and been logged). */
  settled(): Promise<void> {
    return this.tail;
  }
}

function count(byWorker: ReadonlyMap<string, readonly DispatchPayload[]>): number {
  let n = 0;
  for (const payloads of byWorker.values()) n += payloads.length;
  return n;
}
