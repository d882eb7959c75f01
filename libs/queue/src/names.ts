import type { WorkerEvent } from './payloads.js';

/**
 * Every BullMQ queue gpubatch uses, in one place. BullMQ ids and names may
 * not contain ':', so our separators are '-' and '.'.
 */
export const QueueNames = {
  /** Jobs submitted to a job queue, waiting for the scheduler to take them in. */
  intake: (jobQueue: string) => `intake.${jobQueue}`,
  /** Placements for one worker to claim and run. */
  dispatch: (workerId: string) => `dispatch.${workerId}`,
  /** Attempt lifecycle reports from workers to the scheduler. */
  events: 'events',
  /** Commands for one worker (terminate an attempt). */
  control: (workerId: string) => `control.${workerId}`,
  /** Cron firings: one BullMQ job scheduler per schedule, consumed by the API. */
  schedules: 'schedules',
} as const;

/** Redis keys that are not BullMQ queues. */
export const RedisKeys = {
  /**
   * String: one worker's WorkerDescriptor JSON, refreshed by each of its
   * heartbeats. One key per worker so that a worker's Redis ACL user can
   * write its own heartbeat and nobody else's (docs/worker-security.md).
   */
  worker: (workerId: string) => `gpubatch:worker:${workerId}`,
  /**
   * Hash: worker id -> the pool it joined. Written by the control plane when a
   * worker joins with a join token (by the worker itself in the
   * unauthenticated dev mode); the scheduler reads the heartbeats of these
   * workers and only believes a descriptor that names this pool.
   */
  workerPools: 'gpubatch:worker-pools',
  /** Set of worker ids asked to drain (POST /workers/{id}/drain). */
  drainRequests: 'gpubatch:drain',
  /** The scheduler leader's lease. */
  schedulerLease: 'gpubatch:scheduler:leader',
  /**
   * Stream: the live output of one attempt, written by its worker while the
   * container runs (entries `stream`, `at`, `text`, `seq`: the line's index
   * in the attempt's output), then one entry with an `end` field once the
   * attempt ends; it expires an hour later. Postgres keeps the stored copy.
   */
  /** Keyed by the attempt's worker first, so a worker's Redis user can be limited to its own attempts' streams. */
  liveLogs: (workerId: string, jobId: string, attempt: number) => `gpubatch:logs:${workerId}:${jobId}:${attempt}`,
  liveLogsOf: (workerId: string) => `gpubatch:logs:${workerId}:*`,
  /**
   * Pub/sub channel: a job queue, definition or pool changed (the API
   * publishes after the commit). API processes drop their catalog caches, the
   * scheduler reads its queue catalog again. Channels are global to the
   * Redis server, not per database: the db number keeps deployments sharing
   * one apart.
   */
  catalogChanged: (redisDb: number | undefined) => `gpubatch:catalog-changed:${redisDb ?? 0}`,
} as const;

// Array children are `<parent>:<index>`; BullMQ refuses ':' in custom ids.
const bullSafe = (jobId: string) => jobId.replaceAll(':', '~');

/** BullMQ job ids: ours, so that a repeated add is a no-op. */
export const JobIds = {
  intake: (jobId: string) => bullSafe(jobId),
  dispatch: (jobId: string, attempt: number) => `${bullSafe(jobId)}.${attempt}`,
  event: (jobId: string, attempt: number, kind: string) => `${bullSafe(jobId)}.${attempt}.${kind}`,
  terminate: (jobId: string, attempt: number) => `${bullSafe(jobId)}.${attempt}.terminate`,
  preempt: (jobId: string, attempt: number) => `${bullSafe(jobId)}.${attempt}.preempt`,
  checkpointAck: (jobId: string, attempt: number) => `${bullSafe(jobId)}.${attempt}.checkpoint-ack`,
} as const;

/** BullMQ priorities run 1 (first) .. 2^21 (last); ours run higher-first. */
export function bullPriority(priority: number): number {
  const MAX = 2 ** 21;
  return Math.min(MAX, Math.max(1, 1_000_000 - priority));
}

/** The BullMQ job id of a report; attempt reports are deduplicated, worker-changed ones are not. */
export function eventJobId(event: WorkerEvent): string | undefined {
  switch (event.type) {
    case 'attempt-running':
      return JobIds.event(event.jobId, event.attempt, 'running');
    case 'attempt-exited':
      return JobIds.event(event.jobId, event.attempt, 'exited');
    // A notice: lost or repeated, it changes at most a reason.
    case 'attempt-pulling':
    case 'worker-changed':
    case 'job-changed':
      return undefined;
  }
}
