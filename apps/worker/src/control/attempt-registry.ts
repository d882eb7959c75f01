import { attemptKey, JobIds, type TerminateCommand } from '#libs/queue';
import { PreemptionRequest } from '../runner/job-data.js';

export interface AttemptRegistryOptions {
  /** How long a terminate for an attempt not claimed here yet is kept. */
  pendingTtlMs: number;
  /** Most such terminates kept; the oldest go first. */
  maxPending: number;
  now?: () => number;
}

export const DEFAULT_REGISTRY_OPTIONS: AttemptRegistryOptions = { pendingTtlMs: 5 * 60_000, maxPending: 10_000 };

/** What a terminate did: stopped a claimed attempt, or was kept for a claim still to come. */
export type TerminateResult = 'stopping' | 'already-stopping' | 'remembered';

export interface ClaimedAttempt {
  /** Aborts, with the terminate reason, when the attempt is to be terminated (already, if it was asked before the claim). */
  signal: AbortSignal;
  /** Forget the attempt once it has ended. */
  release(): void;
}

interface Held {
  key: string;
  controller: AbortController;
  released: Promise<void>;
  release: () => void;
}

/**
 * The attempts this worker has claimed, each with the AbortController that
 * terminates it, and terminates that arrived before their attempt was
 * claimed (the control command can overtake the dispatch claim).
 */
export class AttemptRegistry {
  private readonly claimed = new Map<string, Held>();
  /** Insertion order is expiry order (one TTL for all), so pruning reads from the front. */
  private readonly pending = new Map<string, { reason: string; expiresAt: number }>();
  private readonly now: () => number;

  constructor(private readonly options: AttemptRegistryOptions = DEFAULT_REGISTRY_OPTIONS) {
    this.now = options.now ?? Date.now;
  }

  /** Registers a claimed attempt. */
  claim(jobId: string, attempt: number): ClaimedAttempt {
    const key = JobIds.dispatch(jobId, attempt);
    const controller = new AbortController();
    this.prune();
    const early = this.pending.get(key);
    if (early) {
      this.pending.delete(key);
      controller.abort(early.reason);
    }
    let resolve!: () => void;
    const released = new Promise<void>((r) => (resolve = r));
    const held: Held = { key: attemptKey(jobId, attempt), controller, released, release: resolve };
    this.claimed.set(key, held);
    return {
      signal: controller.signal,
      release: () => {
        if (this.claimed.get(key) === held) this.claimed.delete(key);
        held.release();
      },
    };
  }

  /** Resolves once the attempt held here is released; undefined when it is not held. */
  whenReleased(jobId: string, attempt: number): Promise<void> | undefined {
    return this.claimed.get(JobIds.dispatch(jobId, attempt))?.released;
  }

  /** The held attempts, as attemptKey(jobId, attempt). */
  heldKeys(): string[] {
    return [...this.claimed.values()].map((held) => held.key);
  }

  /** Terminates the attempt if it is claimed here, else keeps the request for its claim. Never throws. */
  terminate(command: Pick<TerminateCommand, 'jobId' | 'attempt' | 'reason'>): TerminateResult {
    const key = JobIds.dispatch(command.jobId, command.attempt);
    const controller = this.claimed.get(key)?.controller;
    if (controller) {
      if (controller.signal.aborted) return 'already-stopping';
      controller.abort(command.reason);
      return 'stopping';
    }
    this.prune();
    this.pending.delete(key);
    this.pending.set(key, { reason: command.reason, expiresAt: this.now() + this.options.pendingTtlMs });
    while (this.pending.size > this.options.maxPending) this.pending.delete(this.pending.keys().next().value!);
    return 'remembered';
  }

  /** Starts the checkpoint handshake of a running attempt held here; false when it is not held or already stopping. */
  preempt(command: { jobId: string; attempt: number; by: string; graceSeconds: number; signal: string }): boolean {
    const controller = this.claimed.get(JobIds.dispatch(command.jobId, command.attempt))?.controller;
    if (!controller || controller.signal.aborted) return false;
    controller.abort(new PreemptionRequest(command.by, command.graceSeconds, command.signal));
    return true;
  }

  /** A spot interruption: the checkpoint handshake for every attempt held here (none are claimed after it: the worker drains). */
  interruptAll(graceSeconds: number, signal: string): number {
    let n = 0;
    for (const held of this.claimed.values()) {
      if (held.controller.signal.aborted) continue;
      held.controller.abort(new PreemptionRequest('SPOT_INTERRUPTION', graceSeconds, signal, 'interrupt'));
      n++;
    }
    return n;
  }

  /** Attempts claimed and not yet released. */
  get claimedCount(): number {
    return this.claimed.size;
  }

  /** Terminates kept for attempts not claimed yet. */
  get pendingCount(): number {
    this.prune();
    return this.pending.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [key, entry] of this.pending) {
      if (entry.expiresAt > now) break;
      this.pending.delete(key);
    }
  }
}
