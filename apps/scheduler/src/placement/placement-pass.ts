import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import {
  poolsForJob, schedule, type CapacityType, type Placement, type ProjectLimits, type RunnableJob, type SchedulingPolicy,
} from '#libs/core';
import { applyCommands, type Fence, type LifecycleCommand } from '#libs/db';
import type { SecretBox } from '#libs/config';
import type { Logger } from '#libs/log';
import type { DispatchPayload, WorkerQueues } from '#libs/queue';
import { ClusterState } from '../state/cluster-state.js';
import { dispatchDetails } from './dispatch-details.js';
import { schedulerMetrics } from '../metrics/scheduler-metrics.js';
import type { WorkerRegistry } from '../workers/worker-registry.js';

export interface QueueRow {
  name: string; priority: number; pools: string[]; scheduling_policy: 'FIFO' | 'FAIR_SHARE'; prefer_spot_for_interruptible: boolean;
}

/** What a pass needs to know beyond the runnable jobs and the workers. */
export interface PassContext {
  queues: QueueRow[];
  /** Capacity type of every priced pool. */
  capacityTypes: ReadonlyMap<string, CapacityType>;
  /** Budgets and quotas by project, without the GPUs held (the pass counts those). */
  projects: ReadonlyMap<string, Omit<ProjectLimits, 'gpusHeld'>>;
  fairShare: SchedulingPolicy['fairShare'];
}

interface PlacedRow {
  id: string; name: string; queue: string; attempt_count: number; image: string; command: string[];
  environment: Record<string, string>; vcpus: string; memory_mib: number; timeout_seconds: number | null;
  worker_id: string; project: string;
}

/**
 * One scheduling pass: the pure core decides, then every placement is
 * committed through the lifecycle writer (job STARTING + attempt row +
 * event) in one transaction before it is dispatched, and every waiting job gets its reason.
 */
export class PlacementPass {
  constructor(
    private readonly db: DataSource,
    private readonly state: ClusterState,
    private readonly registry: WorkerRegistry,
    private readonly dispatcher: WorkerQueues,
    private readonly logger: Logger,
    /** The leader's epoch: placements of a deposed leader are refused. */
    private readonly fence: () => Fence | undefined = () => undefined,
    /** Opens secret environment values for the dispatch entry. */
    private readonly secrets: SecretBox | null = null,
    /** Benchmarks: each pass's timings as a JSON line in this file (SCHEDULER_PASS_STATS_FILE). */
    private readonly statsFile?: string,
  ) {}

  async run(context: PassContext, now: number): Promise<number> {
    if (this.state.runnable.size === 0) return 0;
    const timer = schedulerMetrics.placementPass.startTimer();
    try {
      return await this.decideAndCommit(context, now);
    } finally {
      timer();
    }
  }

  private async decideAndCommit(context: PassContext, now: number): Promise<number> {
    const t0 = performance.now();
    const byName = new Map(context.queues.map((q) => [q.name, q]));
    const knownPools = [...new Set([...context.capacityTypes.keys(), ...this.registry.pools()])];
    // One pool list per queue and interruptibility, shared by its jobs: a pass may carry 100,000 of them.
    const poolLists = new Map<string, string[]>();
    const poolsOf = (queue: QueueRow, interruptible: boolean) => {
      const key = `${queue.name} ${interruptible}`;
      let pools = poolLists.get(key);
      if (!pools) {
        pools = poolsForJob({ pools: queue.pools, preferSpotForInterruptible: queue.prefer_spot_for_interruptible }, interruptible, context.capacityTypes, knownPools);
        poolLists.set(key, pools);
      }
      return pools;
    };
    const jobs: RunnableJob[] = [...this.state.runnable.values()].map(({ interruptible, ...j }) => {
      const queue = byName.get(j.queue);
      return {
        ...j, queuePriority: queue?.priority ?? 0, pools: queue ? poolsOf(queue, interruptible) : [], fairShare: queue?.scheduling_policy === 'FAIR_SHARE',
      };
    });
    const held = this.state.gpusHeldByProject();
    const projects = new Map([...context.projects].map(([name, p]) => [name, { ...p, gpusHeld: held.get(name) ?? 0 }]));
    const { placements, waiting } = schedule({
      now, workers: this.registry.nodes(), jobs, running: this.state.running(), projects,
      policy: { mode: 'backfill', fairShare: context.fairShare },
    });
    const t1 = performance.now();
    const placed = await this.commit(placements, now);
    const t2 = performance.now();
    await this.writeReasons(waiting);
    if (this.statsFile) {
      const ms = (x: number) => Math.round(x * 10) / 10;
      appendFileSync(this.statsFile, JSON.stringify({
        at: Date.now(), runnable: jobs.length, workers: this.registry.nodes().length, placed, waiting: waiting.size,
        coreMs: ms(t1 - t0), commitMs: ms(t2 - t1), reasonsMs: ms(performance.now() - t2), totalMs: ms(performance.now() - t0),
      }) + '\n');
    }
    return placed;
  }

  private async commit(placements: Placement[], now: number): Promise<number> {
    if (placements.length === 0) return 0;
    // Read before the commit, so that nothing but the attempts' own read stands between commit and dispatch:
    // the container policy of each worker's pool, and the secrets (a failure here must not stop placement).
    const details = await dispatchDetails(
      this.db, this.secrets, placements.map((p) => ({ jobId: p.jobId, pool: this.registry.pool(p.workerId) ?? 'default' })), this.logger,
    ).catch((err: Error) => {
      this.logger.error({ err }, 'reading container policies failed; dispatching with the default container policy');
      return new Map();
    });
    const applied = await applyCommands(this.db, placements.map((p): LifecycleCommand => ({
      jobId: p.jobId,
      command: { type: 'place', workerId: p.workerId, gpuDevices: p.gpuDevices },
      // Priced by its first GPU's model: the core keeps a job's GPUs on one model when it asks for one.
      placement: { pool: this.registry.pool(p.workerId) ?? 'default', gpuModel: p.gpuDevices.length ? this.registry.gpuModel(p.workerId, p.gpuDevices[0]) ?? null : null },
    })), this.fence());
    const placedIds = applied.filter((a) => a.transition.outcome === 'applied').map((a) => a.jobId);
    const rows: PlacedRow[] = placedIds.length === 0 ? [] : await this.db.query(
      `SELECT j.id, j.name, j.queue, j.attempt_count, j.image, j.command, j.environment, j.vcpus, j.memory_mib, j.timeout_seconds, j.project,
              a.worker_id
       FROM jobs j JOIN job_attempts a ON a.job_id = j.id AND a.attempt = j.attempt_count WHERE j.id = ANY($1)`,
      [placedIds],
    );
    const gpusByJob = new Map(placements.map((p) => [p.jobId, p.gpuDevices]));
    for (const p of placements) {
      // Placed, or no longer RUNNABLE (cancelled meanwhile): either way it leaves the runnable set.
      this.state.runnable.delete(p.jobId);
      this.state.reasons.delete(p.jobId);
    }
    const byWorker = new Map<string, DispatchPayload[]>();
    for (const r of rows) {
      const gpuDevices = gpusByJob.get(r.id) ?? [];
      const vcpus = Number(r.vcpus);
      this.state.hold(r.worker_id, ClusterState.attemptKey(r.id, r.attempt_count), {
        jobId: r.id, project: r.project, vcpus, memoryMiB: r.memory_mib, gpuDevices, startedAt: now, timeoutSeconds: r.timeout_seconds,
      });
      const payload: DispatchPayload = {
        jobId: r.id, jobName: r.name, queue: r.queue, attempt: r.attempt_count, image: r.image, command: r.command,
        environment: r.environment, resources: { vcpus, memoryMiB: r.memory_mib, gpus: gpuDevices.length },
        gpuDevices, timeoutSeconds: r.timeout_seconds, ...details.get(r.id),
      };
      byWorker.set(r.worker_id, [...(byWorker.get(r.worker_id) ?? []), payload]);
    }
    await Promise.all([...byWorker].map(([workerId, payloads]) =>
      this.dispatcher.dispatch(workerId, payloads).catch((err: Error) => {
        // The attempts are committed as STARTING; the next leader rebuild re-adds them.
        schedulerMetrics.errors.inc({ kind: 'dispatch' });
        this.logger.error({ err, workerId, attempts: payloads.length }, 'dispatch failed');
      }),
    ));
    return rows.length;
  }

  /** Writes only the reasons that changed since the last pass. */
  private async writeReasons(waiting: Map<string, string>): Promise<void> {
    const ids: string[] = [];
    const reasons: string[] = [];
    for (const [id, reason] of waiting) {
      if (this.state.reasons.get(id) === reason) continue;
      ids.push(id);
      reasons.push(reason);
    }
    if (ids.length === 0) return;
    await this.db.query(
      `UPDATE jobs j SET status_reason = r.reason FROM unnest($1::text[], $2::text[]) AS r(id, reason)
       WHERE j.id = r.id AND j.status = 'RUNNABLE'`,
      [ids, reasons],
    );
    ids.forEach((id, i) => this.state.reasons.set(id, reasons[i]));
  }
}
