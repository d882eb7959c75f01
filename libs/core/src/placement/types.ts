import type { GpuModelConstraint } from '../gpu-model.js';
import type { LabelSelector } from '../labels.js';
import type { WaitingReasons } from './waiting-reasons.js';

/** One GPU of a worker. Devices sharing an `nvlinkGroup` talk over NVLink. */
export interface GpuSlot {
  index: number;
  model: string;
  nvlinkGroup?: number | null;
}

/** A worker as the scheduler sees it: capacity, labels and what is already held. */
export interface WorkerNode {
  id: string;
  pool: string;
  /** False for DRAINING or LOST workers: nothing new is placed on them. */
  schedulable: boolean;
  labels?: Readonly<Record<string, string>>;
  capacity: { vcpus: number; memoryMiB: number; gpus: readonly GpuSlot[] };
  allocated: { vcpus: number; memoryMiB: number; gpuIndices: readonly number[] };
}

/** What one job asks for. */
export interface JobRequest {
  vcpus: number;
  memoryMiB: number;
  gpus: number;
  /** Allowed GPU models (parsed from `A100|H100`); absent means any. */
  gpuModel?: GpuModelConstraint;
}

/** A job waiting for capacity. */
export interface RunnableJob {
  id: string;
  queue: string;
  /** The job queue's priority: higher goes first. */
  queuePriority: number;
  /** The job's own priority inside its queue: higher goes first. */
  priority: number;
  /** Submit time in epoch milliseconds: earlier goes first. */
  submittedAt: number;
  resources: JobRequest;
  /** Pools allowed to run it, in order of preference (from its queue); empty means any pool. */
  pools: readonly string[];
  labelSelector?: LabelSelector;
  /** Per-attempt limit; a job without one never backfills into a reservation. */
  timeoutSeconds?: number | null;
  /** Who it is billed to: its usage orders FAIR_SHARE queues, its quota and budget limit it. */
  project?: string;
  /** True when its queue orders by fair share instead of FIFO. */
  fairShare?: boolean;
  /** Set on every node of a multi-node job: the nodes are placed all at once or not at all. */
  gang?: GangMembership;
}

/** One node of a multi-node (gang) job. Every node of a gang asks for the same resources. */
export interface GangMembership {
  /** The gang's id: its main node's job id. */
  id: string;
  /** 0 is the main node. */
  index: number;
  /** How many nodes the gang has (2..64). */
  size: number;
  /** A worker label (`rack`, `switch`): workers sharing its value are preferred for one gang. */
  topologyKey?: string;
}

/** An attempt holding resources now; its timeout lets the core estimate when they free up. */
export interface RunningAttempt {
  jobId: string;
  workerId: string;
  /** Epoch ms. */
  startedAt: number;
  timeoutSeconds: number | null;
  vcpus: number;
  memoryMiB: number;
  gpuIndices: readonly number[];
}

export interface SchedulingPolicy {
  /**
   * `backfill` (default): the first blocked jobs reserve the worker where they
   * fit soonest; later jobs use a reserved worker only if their timeout ends
   * before the reservation starts (EASY backfill). `strict-fifo`: no job
   * passes one that does not fit.
   */
  mode?: 'backfill' | 'strict-fifo';
  /** Decayed GPU-seconds per project and per-project weights (default 1), for FAIR_SHARE queues. */
  fairShare?: { usage: ReadonlyMap<string, number>; weights?: ReadonlyMap<string, number> };
  /** Most reservations made in one pass (default 16). */
  maxReservations?: number;
}

/** What limits a project's jobs: a GPU quota (GPUs held at once) and a monthly budget. */
export interface ProjectLimits {
  /** GPUs the project may hold at once; null for no quota. */
  gpuQuota: number | null;
  /** GPUs its attempts hold now. */
  gpusHeld: number;
  /** Set when the project has spent its budget: none of its jobs start. */
  budgetSpent?: { spent: string; budget: string; currency: string; month: string };
}

export interface ScheduleInput {
  /** Epoch ms: the core never reads the clock. */
  now: number;
  workers: readonly WorkerNode[];
  jobs: readonly RunnableJob[];
  running?: readonly RunningAttempt[];
  policy?: SchedulingPolicy;
  /** Limits by project name; a project not listed has none. */
  projects?: ReadonlyMap<string, ProjectLimits>;
}

export interface Placement {
  jobId: string;
  workerId: string;
  /** GPU device indices on the worker, ascending. */
  gpuDevices: number[];
}

export interface Reservation {
  jobId: string;
  workerId: string;
  /** Estimated start, epoch ms. */
  startAt: number;
}

export interface ScheduleResult {
  placements: Placement[];
  /** A reason, for a person, for every job left waiting. */
  waiting: WaitingReasons;
  reservations: Reservation[];
}
