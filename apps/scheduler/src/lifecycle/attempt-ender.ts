import type { AttemptEnd, GpuUtilizationSummary } from '#libs/core';
import type { LogLine } from '#libs/queue';
import type { EventRecorder } from '../recorder/event-recorder.js';

/** One attempt the scheduler ends on its own authority (its worker cannot report it). */
export interface AttemptEnding {
  jobId: string;
  attempt: number;
  workerId: string;
  /** The container's start as recorded; null when it never started. */
  startedAt: Date | null;
  /** Until when it is billed. */
  stoppedAt: Date;
  end: AttemptEnd;
  /** Only from a worker's report: its container and output. */
  containerId?: string | null;
  logs?: LogLine[];
  /** Only from a worker's report, where it sampled the attempt's GPUs. */
  gpuUtilization?: GpuUtilizationSummary;
}

/**
 * The one way the scheduler ends attempts itself (lost workers, lost
 * containers, timeouts without the worker): every such end goes through
 * `endAttempts`, into the same lifecycle command as a worker's exit report
 * (never a forged report), so an attempt that has already ended is left
 * as it is.
 */
export class AttemptEnder {
  constructor(private readonly recorder: EventRecorder) {}

  /** Ends each attempt that is still STARTING or RUNNING, with its job's retry rules applied (in one batch of the recorder). */
  async endAttempts(ends: readonly AttemptEnding[]): Promise<void> {
    await this.recorder.endAttempts(ends);
  }
}
