import type { GpuModelConstraint } from '../gpu-model.js';

/** A node of the simulated cluster: every GPU on it is of one model. */
export interface SimNode {
  id: string;
  vcpus: number;
  memoryMiB: number;
  gpus: number;
  gpuModel: string;
}

/** One job of a trace. */
export interface SimJob {
  id: string;
  /** Submit time, epoch ms (any origin: time is virtual). */
  submitMs: number;
  /** How long it runs once started. */
  durationSeconds: number;
  gpus: number;
  vcpus: number;
  memoryMiB: number;
  /** Allowed GPU models; absent or empty means any. */
  gpuModel?: GpuModelConstraint;
  /**
   * The timeout the scheduler sees (its estimate of when the job ends, used
   * for reservations and backfill). Absent: the duration itself (a perfect
   * estimate). null: no timeout (never backfills, never ends in estimates).
   */
  timeoutSeconds?: number | null;
}

/** 'fifo' runs the core with `{ mode: 'strict-fifo' }`, 'default' with `{ mode: 'backfill' }`. */
export type SimPolicy = 'fifo' | 'default';

export interface SimOptions {
  policy: SimPolicy;
  /**
   * Read before and after every schedule() call; the differences are summed
   * into `scheduleCpuMs` (pass a CPU-time clock in ms, e.g. from
   * process.cpuUsage). Absent: 0. The simulation itself never reads a clock.
   */
  clock?: () => number;
  /** Same, summed into `scheduleWallMs` (e.g. performance.now). */
  wallClock?: () => number;
  /**
   * Run jobs wider than the largest node as multi-node (gang) jobs on whole
   * nodes: ceil(gpus / node GPUs) nodes of a full node's GPUs each, vCPUs and
   * memory in proportion, placed all at once by the core. Off: such jobs are
   * reported unplaceable.
   */
  gangs?: boolean;
  /** Called every `progressEvery` schedule() calls (default 10,000). */
  onProgress?: (p: SimProgress) => void;
  progressEvery?: number;
}

export interface SimProgress {
  nowMs: number;
  scheduleCalls: number;
  waiting: number;
  running: number;
  started: number;
  jobs: number;
}

/** What happened to one simulated job. */
export interface JobRecord {
  id: string;
  /** The node it ran on. */
  nodeId: string;
  gpus: number;
  submitMs: number;
  startMs: number;
  finishMs: number;
}

export type UnplaceableReason = 'gpus' | 'vcpus-or-memory';

export interface UnplaceableJob {
  id: string;
  /** `gpus`: no node has that many GPUs (of an allowed model); otherwise no node has the vCPUs or memory with them. */
  reason: UnplaceableReason;
}

export interface SimMetrics {
  /** Jobs fed to the scheduler (all of them ran to completion); a multi-node job counts once. */
  jobs: number;
  /** Of those, multi-node jobs (with `gangs`). */
  gangJobs?: number;
  /** Jobs no single node could ever run; not fed to the scheduler. */
  unplaceableJobs: number;
  avgQueueingDelaySeconds: number;
  p95QueueingDelaySeconds: number;
  maxQueueingDelaySeconds: number;
  /** Submit to finish. */
  avgJobCompletionSeconds: number;
  /** Busy GPU-seconds over (cluster GPUs × makespan). */
  gpuUtilization: number;
  /** First submit to last finish of the simulated jobs. */
  makespanSeconds: number;
  busyGpuSeconds: number;
  capacityGpuSeconds: number;
  scheduleCalls: number;
  /** Time inside schedule(), by the clocks passed in. */
  scheduleCpuMs: number;
  scheduleWallMs: number;
  /** Longest single schedule() call (by the CPU clock). */
  maxScheduleCallMs: number;
  /** Most jobs waiting when schedule() was called. */
  maxWaiting: number;
}

export interface SimResult {
  metrics: SimMetrics;
  records: JobRecord[];
  unplaceable: UnplaceableJob[];
}
