/** One slice of past use by a project: GPU-seconds (or vCPU-seconds for CPU jobs) ending at `at` (ms). */
export interface UsageSample {
  project: string;
  at: number;
  amount: number;
}

/**
 * Recent usage per project with exponential decay, as Slurm's fair share:
 * a sample `halfLifeSeconds` old counts half.
 */
export function decayedUsage(samples: Iterable<UsageSample>, now: number, halfLifeSeconds: number): Map<string, number> {
  const usage = new Map<string, number>();
  for (const s of samples) {
    const ageSeconds = Math.max(0, (now - s.at) / 1000);
    const weight = Math.pow(0.5, ageSeconds / halfLifeSeconds);
    usage.set(s.project, (usage.get(s.project) ?? 0) + s.amount * weight);
  }
  return usage;
}
