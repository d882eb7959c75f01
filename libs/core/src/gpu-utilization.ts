/** A GPU under this utilisation (percent) in a sample counts as idle: allocated but doing nothing useful. */
export const IDLE_GPU_PERCENT = 5;

/** One GPU in one nvidia-smi sample. */
export interface GpuSample {
  index: number;
  utilizationPercent: number;
  memoryUsedMiB: number;
}

/** What an attempt's GPUs did while it ran, from periodic samples. */
export interface GpuUtilizationSummary {
  /** Sampling rounds that saw the attempt's GPUs. */
  samples: number;
  /** Mean utilisation over its GPUs and the samples. */
  avgPercent: number;
  /** Highest utilisation any of its GPUs showed. */
  peakPercent: number;
  /** Memory used on its GPUs together: mean and highest. */
  avgMemoryMiB: number;
  peakMemoryMiB: number;
  /** Share of GPU-samples under IDLE_GPU_PERCENT: the part of its GPU time spent idle. */
  idleFraction: number;
}

/** Parses `nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits`; `[N/A]` rows are skipped. */
export function parseGpuSamples(csv: string): GpuSample[] {
  const samples: GpuSample[] = [];
  for (const raw of csv.split(/\r?\n/)) {
    const fields = raw.split(',').map((f) => f.trim());
    if (fields.length < 3 || !/^\d+$/.test(fields[0])) continue;
    const util = Number(fields[1]);
    const memory = Number(fields[2]);
    if (!Number.isFinite(util) || !Number.isFinite(memory) || fields[1] === '' || fields[2] === '') continue;
    samples.push({ index: Number(fields[0]), utilizationPercent: Math.min(100, Math.max(0, util)), memoryUsedMiB: Math.max(0, memory) });
  }
  return samples;
}

/** Averages and peaks of one attempt's GPUs over the samples it is given. */
export class UtilizationAccumulator {
  private rounds = 0;
  private gpuSamples = 0;
  private idleSamples = 0;
  private utilSum = 0;
  private utilPeak = 0;
  private memorySum = 0;
  private memoryPeak = 0;

  constructor(private readonly devices: readonly number[]) {}

  /** One sampling round of the machine's GPUs; rounds that miss the attempt's GPUs are ignored. */
  add(round: readonly GpuSample[]): void {
    const mine = round.filter((s) => this.devices.includes(s.index));
    if (mine.length === 0) return;
    this.rounds++;
    let memory = 0;
    for (const s of mine) {
      this.gpuSamples++;
      this.utilSum += s.utilizationPercent;
      this.utilPeak = Math.max(this.utilPeak, s.utilizationPercent);
      if (s.utilizationPercent < IDLE_GPU_PERCENT) this.idleSamples++;
      memory += s.memoryUsedMiB;
    }
    this.memorySum += memory;
    this.memoryPeak = Math.max(this.memoryPeak, memory);
  }

  /** null before the first sample: nothing is known. */
  summary(): GpuUtilizationSummary | null {
    if (this.rounds === 0) return null;
    const round2 = (n: number) => Math.round(n * 100) / 100;
    return {
      samples: this.rounds,
      avgPercent: round2(this.utilSum / this.gpuSamples),
      peakPercent: round2(this.utilPeak),
      avgMemoryMiB: round2(this.memorySum / this.rounds),
      peakMemoryMiB: round2(this.memoryPeak),
      idleFraction: round2(this.idleSamples / this.gpuSamples),
    };
  }
}

/** An attempt counts as idle when its GPUs averaged under IDLE_GPU_PERCENT. */
export function isIdle(summary: Pick<GpuUtilizationSummary, 'avgPercent' | 'samples'>): boolean {
  return summary.samples > 0 && summary.avgPercent < IDLE_GPU_PERCENT;
}
