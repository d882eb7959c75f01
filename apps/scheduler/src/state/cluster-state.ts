import { toMilliCpu, type PreemptionCandidate, type RunnableJob, type RunningAttempt } from '#libs/core';
import { attemptKey } from '#libs/queue';

/** A runnable job as the leader keeps it in memory: everything but its queue's settings. */
export type RunnableEntry = Omit<RunnableJob, 'queuePriority' | 'pools' | 'fairShare'> & { interruptible: boolean };

/** What preemption needs to know of a holding attempt's job. */
export interface HeldJob {
  queue: string;
  priority: number;
  preemptible: boolean;
  preemptions: number;
  graceSeconds: number;
}

/** What the attempts on one worker hold together. */
interface Allocation {
  vcpus: number;
  memoryMiB: number;
  gpuIndices: number[];
}

/** What one attempt holds on its worker, and until when it may run. */
interface Held {
  job?: HeldJob;
  jobId: string;
  attempt: number;
  project: string;
  milliCpu: number;
  memoryMiB: number;
  gpuDevices: number[];
  startedAt: number;
  timeoutSeconds: number | null;
}

/**
 * The runnable jobs by id, remembering what changed since the placement
 * pass last asked: behind a deep queue, a pass whose only change is new
 * jobs then takes on those rather than going over every job again.
 */
export class RunnableJobs extends Map<string, RunnableEntry> {
  private added: RunnableEntry[] = [];
  // Until first asked, everything is new.
  private otherChange = true;

  override set(id: string, entry: RunnableEntry): this {
    const had = super.get(id);
    if (had === entry) return this;
    if (had === undefined) this.added.push(entry);
    else this.otherChange = true; // replaced where it was
    return super.set(id, entry);
  }

  override delete(id: string): boolean {
    const gone = super.delete(id);
    if (gone) this.otherChange = true;
    return gone;
  }

  override clear(): void {
    super.clear();
    this.otherChange = true;
  }

  /** The entries added since the last call, in the order added (as the map iterates them); undefined when any other change happened. */
  takeChanges(): RunnableEntry[] | undefined {
    const added = this.otherChange ? undefined : this.added;
    this.added = [];
    this.otherChange = false;
    return added;
  }
}

/**
 * The leader's live model: runnable jobs and what every attempt holds on
 * each worker. Rebuilt from Postgres whenever a scheduler becomes leader.
 */
export class ClusterState {
  readonly runnable = new RunnableJobs();
  /** The reason last written for each waiting job, and when (the scheduler's clock): unchanged reasons are not rewritten. */
  readonly reasons = new Map<string, { reason: string; at: number }>();
  private readonly held = new Map<string, Map<string, Held>>();
  /**
   * What each pass reads of `held`, kept until an attempt is held or freed:
   * a pass that follows a submit finds every worker's allocation as it was,
   * and building them again for a thousand workers was most of its cost.
   */
  private readonly allocations = new Map<string, Allocation>();
  private runningList: RunningAttempt[] | null = null;

  static attemptKey(jobId: string, attempt: number): string {
    return attemptKey(jobId, attempt);
  }

  /** `startedAt`: when it was placed by the scheduler's clock, or when it started as Postgres has it. */
  hold(workerId: string, key: string, a: { jobId: string; project: string; vcpus: number; memoryMiB: number; gpuDevices: number[]; startedAt: number; timeoutSeconds: number | null; job?: HeldJob }): void {
    let onWorker = this.held.get(workerId);
    if (!onWorker) this.held.set(workerId, (onWorker = new Map()));
    onWorker.set(key, { ...a, attempt: parseAttemptKey(key).attempt, milliCpu: toMilliCpu(a.vcpus) });
    this.changedOn(workerId);
  }

  /** Whether an attempt holds resources on this worker: the leader counts it STARTING or RUNNING there. */
  holds(workerId: string, key: string): boolean {
    return this.held.get(workerId)?.has(key) ?? false;
  }

  /** Frees an attempt's resources; false when it held none (already released). */
  release(workerId: string, attemptKey: string): boolean {
    const released = this.held.get(workerId)?.delete(attemptKey) ?? false;
    if (released) this.changedOn(workerId);
    return released;
  }

  /** What the attempts on a worker hold together. The same object until that changes: callers must not modify it. */
  allocatedOn(workerId: string): Readonly<Allocation> {
    let allocation = this.allocations.get(workerId);
    if (allocation) return allocation;
    let milliCpu = 0;
    let memoryMiB = 0;
    const gpuIndices: number[] = [];
    for (const h of this.held.get(workerId)?.values() ?? []) {
      milliCpu += h.milliCpu;
      memoryMiB += h.memoryMiB;
      gpuIndices.push(...h.gpuDevices);
    }
    allocation = { vcpus: milliCpu / 1000, memoryMiB, gpuIndices };
    this.allocations.set(workerId, allocation);
    return allocation;
  }

  private changedOn(workerId: string): void {
    this.allocations.delete(workerId);
    this.runningList = null;
  }

  /** The attempts holding resources on one worker. */
  heldOn(workerId: string): { jobId: string; attempt: number; key: string; heldSince: number }[] {
    return [...(this.held.get(workerId) ?? [])].map(([key, h]) => ({ jobId: h.jobId, attempt: h.attempt, key, heldSince: h.startedAt }));
  }

  /** Every worker something is held on. */
  workersHolding(): string[] {
    return [...this.held].filter(([, onWorker]) => onWorker.size > 0).map(([id]) => id);
  }

  /** GPUs held now, by the project of the attempts holding them: what GPU quotas count. */
  gpusHeldByProject(): Map<string, number> {
    const byProject = new Map<string, number>();
    for (const onWorker of this.held.values()) {
      for (const h of onWorker.values()) {
        if (h.gpuDevices.length) byProject.set(h.project, (byProject.get(h.project) ?? 0) + h.gpuDevices.length);
      }
    }
    return byProject;
  }

  /** Attempts of preemptible jobs, with what preemption weighs (queue priority from `queuePriority`). */
  preemptionCandidates(queuePriority: (queue: string) => number): (PreemptionCandidate & { attempt: number; graceSeconds: number })[] {
    const out: (PreemptionCandidate & { attempt: number; graceSeconds: number })[] = [];
    for (const [workerId, onWorker] of this.held) {
      for (const h of onWorker.values()) {
        if (!h.job?.preemptible) continue;
        out.push({
          jobId: h.jobId, attempt: h.attempt, workerId, queuePriority: queuePriority(h.job.queue), priority: h.job.priority, startedAt: h.startedAt,
          vcpus: h.milliCpu / 1000, memoryMiB: h.memoryMiB, gpuIndices: h.gpuDevices, preemptible: true, preemptions: h.job.preemptions,
          graceSeconds: h.job.graceSeconds,
        });
      }
    }
    return out;
  }

  /** Every attempt holding resources, for the core's reservation estimates. The same list until one is held or freed: callers must not modify it. */
  running(): readonly RunningAttempt[] {
    if (this.runningList) return this.runningList;
    const all: RunningAttempt[] = [];
    for (const [workerId, onWorker] of this.held) {
      for (const h of onWorker.values()) {
        all.push({ jobId: h.jobId, workerId, startedAt: h.startedAt, timeoutSeconds: h.timeoutSeconds, vcpus: h.milliCpu / 1000, memoryMiB: h.memoryMiB, gpuIndices: h.gpuDevices });
      }
    }
    this.runningList = all;
    return all;
  }

  clear(): void {
    this.runnable.clear();
    this.reasons.clear();
    this.held.clear();
    this.allocations.clear();
    this.runningList = null;
  }
}

/** The job and attempt an `attemptKey` names. */
export function parseAttemptKey(key: string): { jobId: string; attempt: number } {
  const at = key.lastIndexOf('#');
  return { jobId: key.slice(0, at), attempt: Number(key.slice(at + 1)) };
}
