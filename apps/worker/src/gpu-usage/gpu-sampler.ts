import { execFile } from 'node:child_process';
import { parseGpuSamples, UtilizationAccumulator, type GpuSample, type GpuUtilizationSummary } from '#libs/core';
import type { Logger } from '#libs/log';
import { workerMetrics } from '../metrics/worker-metrics.js';

export const NVIDIA_SMI_SAMPLE_ARGS = ['--query-gpu=index,utilization.gpu,memory.used', '--format=csv,noheader,nounits'];

/** Reads one round of samples; null when nvidia-smi is not installed. */
export type SampleSource = () => Promise<GpuSample[] | null>;

/** nvidia-smi on PATH, as GPU discovery runs it. */
export function nvidiaSmiSamples(env: NodeJS.ProcessEnv = process.env, timeoutMs = 10_000): SampleSource {
  return () => new Promise((resolve, reject) => {
    execFile('nvidia-smi', NVIDIA_SMI_SAMPLE_ARGS, { env, timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) return resolve(parseGpuSamples(stdout));
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve(null);
      reject(new Error(`nvidia-smi sampling failed: ${(stderr || error.message).trim()}`));
    });
  });
}

/**
 * Samples this machine's GPUs every `intervalMs` while some attempt holding
 * GPUs runs, and keeps each attempt's averages and peaks. With no
 * nvidia-smi (no GPUs, or GPUs given by configuration only) it samples
 * nothing and attempts report no utilisation.
 */
export class GpuSampler {
  private readonly tracked = new Map<string, UtilizationAccumulator>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private unavailable = false;

  constructor(private readonly source: SampleSource, private readonly intervalMs: number, private readonly logger: Logger) {}

  /** Starts following an attempt's GPUs; `finish` ends it with what was seen (null when never sampled). */
  track(key: string, devices: readonly number[]): { finish: () => Promise<GpuUtilizationSummary | null> } {
    if (devices.length === 0 || this.unavailable) return { finish: async () => null };
    const acc = new UtilizationAccumulator(devices);
    this.tracked.set(key, acc);
    void this.sampleOnce();
    this.timer ??= setInterval(() => void this.sampleOnce(), this.intervalMs);
    return {
      finish: async () => {
        // One last round (or the one in flight), so that even a short attempt has a sample.
        await this.sampleOnce();
        this.tracked.delete(key);
        if (this.tracked.size === 0) this.stopTimer();
        return acc.summary();
      },
    };
  }

  stop(): void {
    this.tracked.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round at a time: a caller arriving during a round waits for it. */
  private sampleOnce(): Promise<void> {
    this.sampling ??= this.sample().finally(() => {
      this.sampling = undefined;
    });
    return this.sampling;
  }

  private async sample(): Promise<void> {
    if (this.unavailable || this.tracked.size === 0) return;
    let round: GpuSample[] | null;
    try {
      round = await this.source();
    } catch (error) {
      workerMetrics.errors.inc({ kind: 'gpu_sampling' });
      this.logger.warn({ err: error }, 'GPU sampling failed; trying again at the next interval');
      return;
    }
    if (round === null) {
      this.unavailable = true;
      this.stop();
      return;
    }
    for (const s of round) {
      workerMetrics.gpuUtilization.set({ gpu: String(s.index) }, s.utilizationPercent);
      workerMetrics.gpuMemoryUsed.set({ gpu: String(s.index) }, s.memoryUsedMiB);
    }
    for (const acc of this.tracked.values()) acc.add(round);
  }
}
