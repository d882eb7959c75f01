import type { EffectiveContainerPolicy } from '#libs/config';
import type { AttemptEnd, GpuUtilizationSummary, Resources } from '#libs/core';

/** Committed RUNNABLE jobs of one job queue: one job, or every job of one group commit or batch submit. */
export interface IntakePayload {
  jobId?: string;
  jobIds?: string[];
}

/** One firing of a cron schedule; the submit body is read from Postgres when it fires. */
export interface ScheduleFiringPayload {
  schedule: string;
}

/** Everything a worker needs to run one attempt; it never reads Postgres. */
export interface DispatchPayload {
  jobId: string;
  jobName: string;
  queue: string;
  attempt: number;
  image: string;
  command: string[];
  environment: Record<string, string>;
  resources: Resources;
  gpuDevices: number[];
  timeoutSeconds: number | null;
  /**
   * The container hardening for this attempt, computed by the scheduler at
   * placement from the worker's pool policy and the job's requests. Absent in
   * entries from before it existed: the worker then applies the defaults.
   */
  container?: EffectiveContainerPolicy;
  /**
   * Secret environment values in plaintext, for the container only. The
   * worker removes them from the dispatch entry in Redis as soon as it
   * claims it (see `secretNames`); they are never logged.
   */
  secretEnvironment?: Record<string, string>;
  /** The names of the job's secret variables: a re-delivered entry whose values were already removed fails instead of running without them. */
  secretNames?: string[];
  /**
   * Pull credentials for the image's registry (the job's project's, else the
   * pool's), opened by the scheduler. Removed from Redis at the claim, like
   * secretEnvironment; never logged.
   */
  registryAuth?: { username: string; password: string; serveraddress: string };
  /** How often the job was preempted or interrupted before: GPUBATCH_RESTART_COUNT. */
  restartCount?: number;
  /**
   * `host` for a node of a multi-node job: its nodes reach each other on their
   * workers' addresses (docs/multi-node.md). Absent: the worker's JOB_NETWORK_MODE.
   */
  networkMode?: 'host';
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** ISO time the container wrote it. */
  at: string;
  text: string;
}

export interface AttemptRunningEvent {
  type: 'attempt-running';
  jobId: string;
  attempt: number;
  workerId: string;
  containerId: string;
  /** The container's real start time (ISO). */
  startedAt: string;
  /** HMAC of the report by its worker's signing key (report-signing.ts); required when worker auth is on. */
  signature?: string;
}

/** Best effort, not kept in the outbox: the worker started pulling the attempt's image (the job's reason says so). */
export interface AttemptPullingEvent {
  type: 'attempt-pulling';
  jobId: string;
  attempt: number;
  workerId: string;
  image: string;
  /** HMAC of the report by its worker's signing key (report-signing.ts); required when worker auth is on. */
  signature?: string;
}

export interface AttemptExitedEvent {
  type: 'attempt-exited';
  jobId: string;
  attempt: number;
  workerId: string;
  containerId: string | null;
  /** Real container start and stop (ISO); startedAt is null when it never started. */
  startedAt: string | null;
  stoppedAt: string;
  end: AttemptEnd;
  logs: LogLine[];
  logsTruncated: boolean;
  /** What its GPUs did while it ran, where the worker could sample them (nvidia-smi); absent otherwise. */
  gpuUtilization?: GpuUtilizationSummary;
  /** HMAC of the report by its worker's signing key (report-signing.ts); required when worker auth is on. */
  signature?: string;
}

/** Stop one attempt: SIGTERM, the grace period, then SIGKILL; report it ended `terminated`. */
export interface TerminateCommand {
  type: 'terminate';
  jobId: string;
  attempt: number;
  reason: string;
}

/**
 * The checkpoint handshake: write the notice file, send `signal`, wait up to
 * `graceSeconds` for the acknowledgement file, then stop the container; the
 * attempt ends `preempted`.
 */
export interface PreemptCommand {
  type: 'preempt';
  jobId: string;
  attempt: number;
  /** The job that needs the resources. */
  by: string;
  graceSeconds: number;
  /** Default SIGUSR1. */
  signal: string;
}

/** The job acknowledged its checkpoint through the API: the worker writes the acknowledgement file for it. */
export interface CheckpointAckCommand {
  type: 'checkpoint-ack';
  jobId: string;
  attempt: number;
}

/** The worker is being reclaimed (a spot interruption): every attempt gets the handshake, with `deadline` as the grace, and the worker drains. */
export interface InterruptCommand {
  type: 'interrupt';
  /** ISO time the machine goes away. */
  deadline: string;
}

/** Commands about one attempt; an InterruptCommand (the whole worker) travels on the same queue. */
export type ControlCommand = TerminateCommand | PreemptCommand | CheckpointAckCommand;

export interface WorkerChangedEvent {
  type: 'worker-changed';
  workerId: string;
}

/** A job left RUNNABLE outside the scheduler (cancelled): it must leave the leader's model. */
export interface JobChangedEvent {
  type: 'job-changed';
  jobId: string;
}

export type WorkerEvent = AttemptPullingEvent | AttemptRunningEvent | AttemptExitedEvent | WorkerChangedEvent | JobChangedEvent;

export interface GpuDevice {
  index: number;
  uuid: string | null;
  model: string;
  memoryMiB: number;
  /** Devices sharing a group talk over NVLink; null when unknown. */
  nvlinkGroup?: number | null;
}

export type WorkerState = 'ACTIVE' | 'DRAINING';

/** What a worker declares when it joins and refreshes with each heartbeat. */
export interface WorkerDescriptor {
  id: string;
  pool: string;
  hostname: string;
  /** Where other nodes of a multi-node job reach the containers this worker runs (host network); absent from older workers. */
  address?: string;
  vcpus: number;
  memoryMiB: number;
  gpus: GpuDevice[];
  /** Free-form labels (`zone=a`, `nvlink=true`) that job label selectors match. */
  labels?: Record<string, string>;
  state: WorkerState;
  /** Epoch ms of the last heartbeat, by the worker's clock: shown, never used to judge liveness. */
  heartbeatAt: number;
  startedAt: number;
  /**
   * Every attempt this worker holds right now (claimed, starting, running or
   * exited with its report not yet recorded), as `attemptKey(jobId, attempt)`.
   * The scheduler ends active attempts missing from it, after a grace, and
   * tells the worker to stop containers of attempts that are no longer active.
   */
  attempts?: string[];
  /**
   * The id of this worker process's dispatch consumer: every dispatch lock it
   * takes has a token starting with `${claimer}:`. A claim shows in the lock
   * at once but in `attempts` only once the process gets to it, which a busy
   * process can take seconds to do; a restarted process has a new id.
   */
  claimer?: string;
}

/** The one spelling of an attempt's identity in heartbeats and logs. */
export function attemptKey(jobId: string, attempt: number): string {
  return `${jobId}#${attempt}`;
}
