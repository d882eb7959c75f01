import { Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { compareMoney, type CapacityType, type SchedulingPolicy } from '#libs/core';
import { projectStandings, settleDependants } from '#libs/db';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis, QueueNames, WorkerQueues, type WorkerEvent } from '#libs/queue';
import { IntakeConsumers } from './intake/intake-consumers.js';
import { accrueRunningUsage } from './billing/metering.js';
import { PlacementPass, type PassContext, type QueueRow } from './placement/placement-pass.js';
import { sweepFinishedJobs } from './retention/retention-sweep.js';
import { loadRunnable, rebuildFromPostgres, staleStartingAttempts, syncRunnable } from './reconciler/rebuild.js';
import { EventRecorder } from './recorder/event-recorder.js';
import { ClusterState } from './state/cluster-state.js';
import { WorkerRegistry } from './workers/worker-registry.js';

// RUNNABLE jobs whose intake add was lost (Redis blip after commit) are found by this sweep.
const RUNNABLE_SWEEP_MS = 30_000;
// Fair-share usage moves slowly (half-lives of days): re-read it this often.
const FAIR_SHARE_REFRESH_MS = 60_000;
// Budgets and quotas changed through the API, and month-to-date spend, are re-read this often.
const PROJECT_REFRESH_MS = 10_000;
// Retention runs on its own timer, beside the passes: it only deletes finished jobs, which no pass reads.
const RETENTION_SWEEP_MS = 600_000;
const RETENTION_FIRST_SWEEP_MS = 60_000;

/**
 * What the leader runs: intake, worker reports, worker registry and
 * placement, all serialised through one pass at a time. Built when a
 * scheduler becomes leader, closed when it stops leading.
 */
export class ControlLoop {
  private readonly state = new ClusterState();
  private readonly registry: WorkerRegistry;
  private readonly dispatcher: WorkerQueues;
  private readonly intake: IntakeConsumers;
  private readonly recorder: EventRecorder;
  private readonly placement: PlacementPass;
  private events: Worker<WorkerEvent> | undefined;
  private eventsConnection: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastSweep = 0;
  private fairShare: SchedulingPolicy['fairShare'];
  private fairShareReadAt = 0;
  private changed = true;
  private queuesSeen = '';
  private projects: PassContext['projects'] = new Map();
  private projectsSeen = '';
  private projectsReadAt = 0;
  private accruedAt = 0;
  private retentionTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly db: DataSource,
    redis: Redis,
    private readonly config: {
      redisUrl: string; intervalMs: number; workerTimeoutMs: number;
      fairShareHalfLifeSeconds: number; fairShareWeights: Map<string, number>;
      usageAccrualSeconds: number; jobRetentionDays: number;
    },
    private readonly logger: Logger,
    /** False once this replica can no longer be sure it leads: nothing is placed then. */
    private readonly leaseValid: () => boolean = () => true,
  ) {
    this.registry = new WorkerRegistry(db, redis, this.state, config.workerTimeoutMs, logger);
    this.dispatcher = new WorkerQueues(redis);
    this.intake = new IntakeConsumers(config.redisUrl, () => this.wake(true), logger);
    this.recorder = new EventRecorder(db, this.state, () => this.wake(true), logger);
    this.placement = new PlacementPass(db, this.state, this.registry, this.dispatcher, logger);
  }

  async start(): Promise<void> {
    await this.registry.load();
    const toDispatch = await rebuildFromPostgres(this.db, this.state);
    for (const [workerId, payloads] of toDispatch) await this.dispatcher.dispatch(workerId, payloads);
    this.lastSweep = Date.now();
    this.logger.info({ runnable: this.state.runnable.size, redispatched: [...toDispatch.values()].flat().length }, 'rebuilt from Postgres');

    this.eventsConnection = createRedis(this.config.redisUrl, 'events');
    this.events = new Worker<WorkerEvent>(
      QueueNames.events,
      async (job) => this.recorder.record(job.data),
      // One report at a time keeps a job's RUNNING before its exit.
      { connection: this.eventsConnection, concurrency: 1 },
    );
    this.events.on('failed', (job, err) => this.logger.error({ err, event: job?.data }, 'recording a worker report failed'));
    this.events.on('error', (err) => this.logger.error({ err }, 'events consumer error'));
    this.timer = setInterval(() => this.wake(), this.config.intervalMs);
    // The first sweep a minute after taking the lead, not in the middle of a rebuild.
    this.retentionTimer = setTimeout(() => this.sweepRetention(), RETENTION_FIRST_SWEEP_MS);
    this.wake(true);
  }

  /** Removes finished jobs past retention, a bounded batch at a time, then plans the next sweep. */
  private sweepRetention(): void {
    if (this.stopped) return;
    this.sweeping = sweepFinishedJobs(this.db, new Date(Date.now() - this.config.jobRetentionDays * 86_400_000))
      .then((removed) => {
        if (removed) this.logger.info({ removed, retentionDays: this.config.jobRetentionDays }, 'removed finished jobs past retention');
      })
      .catch((err: Error) => this.logger.error({ err }, 'retention sweep failed'))
      .finally(() => {
        this.sweeping = undefined;
        if (!this.stopped) this.retentionTimer = setTimeout(() => this.sweepRetention(), RETENTION_SWEEP_MS);
      });
  }

  /**
   * Asks for a pass; passes never overlap, and a request during one runs
   * another after it. `changed` says something happened (a submit, a report,
   * a worker); timer passes without a change skip the core.
   */
  wake(changed = false): void {
    if (this.stopped) return;
    if (changed) this.changed = true;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err: Error) => {
        this.logger.error({ err }, 'scheduling pass failed');
        this.changed = true; // what this pass took in is still to be placed
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async pass(): Promise<void> {
    const now = Date.now();
    // Taken first: anything that happens while this pass runs asks for the next one.
    let changed = this.changed;
    this.changed = false;
    const workers = await this.registry.sync(now);
    changed ||= workers.changed;
    changed = (await this.recoverLostWorkers()) || changed;
    for (const workerId of workers.returned) await this.stopStaleAttempts(workerId);
    const [queues, pools]: [QueueRow[], { name: string; capacity_type: CapacityType }[]] = await Promise.all([
      this.db.query(`SELECT name, priority, pools, scheduling_policy, prefer_spot_for_interruptible FROM job_queues`),
      this.db.query(`SELECT name, capacity_type FROM pools`),
    ]);
    const queuesSeen = JSON.stringify([queues, pools]);
    changed ||= queuesSeen !== this.queuesSeen;
    this.queuesSeen = queuesSeen;
    await this.intake.follow(queues.map((q) => q.name));
    if (now - this.lastSweep >= RUNNABLE_SWEEP_MS) {
      this.lastSweep = now;
      for (const [workerId, payloads] of await staleStartingAttempts(this.db, RUNNABLE_SWEEP_MS / 1000)) {
        await this.dispatcher.dispatch(workerId, payloads);
      }
      await settleDependants(this.db);
      changed = (await syncRunnable(this.db, this.state)) || changed;
    }
    const arrived = this.intake.drain();
    if (arrived.length > 0) await loadRunnable(this.db, this.state, arrived);
    if (now - this.fairShareReadAt >= FAIR_SHARE_REFRESH_MS && queues.some((q) => q.scheduling_policy === 'FAIR_SHARE')) {
      this.fairShareReadAt = now;
      this.fairShare = { usage: await this.projectUsage(), weights: this.config.fairShareWeights };
      changed = true;
    }
    // Billing must never stop placement: a failure is logged and retried on the next pass.
    if (now - this.accruedAt >= this.config.usageAccrualSeconds * 1000) {
      this.accruedAt = now;
      await accrueRunningUsage(this.db, new Date(now)).catch((err: Error) => this.logger.error({ err }, 'usage accrual failed'));
    }
    if (now - this.projectsReadAt >= PROJECT_REFRESH_MS) {
      this.projectsReadAt = now;
      // On failure the limits last read stay in force.
      changed = (await this.readProjectLimits(now).catch((err: Error) => {
        this.logger.error({ err }, 'reading project budgets and quotas failed');
        return false;
      })) || changed;
    }
    // Nothing new since the last pass: the same inputs would give the same placements (none) and reasons.
    if (!changed) return;
    if (!this.leaseValid()) {
      this.changed = true;
      this.logger.warn('lease not renewed in time: placing nothing until it is');
      return;
    }
    const capacityTypes = new Map(pools.map((p) => [p.name, p.capacity_type]));
    const placed = await this.placement.run({ queues, capacityTypes, projects: this.projects, fairShare: this.fairShare }, now);
    if (placed > 0) this.logger.debug({ placed, runnable: this.state.runnable.size }, 'placed jobs');
  }

  /**
   * Fails the attempts of LOST workers with `Worker lost: <id>` (billed up
   * to the last heartbeat), frees what they held and lets them retry.
   * Idempotent: it acts on whatever LOST workers still hold, so a new leader
   * finishes what an old one started.
   */
  private async recoverLostWorkers(): Promise<boolean> {
    let recovered = false;
    const now = Date.now();
    const gone = [...this.registry.lost(), ...this.registry.departed(now)];
    for (const worker of gone) {
      const attempts = this.state.heldOn(worker.id);
      if (attempts.length === 0) continue;
      const rows: { job_id: string; attempt: number; started_at: Date | null }[] = await this.db.query(
        `SELECT job_id, attempt, started_at FROM job_attempts WHERE worker_id = $1 AND status IN ('STARTING', 'RUNNING')`,
        [worker.id],
      );
      for (const a of attempts) {
        const row = rows.find((r) => r.job_id === a.jobId && r.attempt === a.attempt);
        const startedAt = row?.started_at ?? null;
        const stoppedAt = new Date(Math.max(worker.lastHeartbeatAt, startedAt?.getTime() ?? 0));
        await this.dispatcher.withdraw(worker.id, a.jobId, a.attempt);
        await this.recorder.record({
          type: 'attempt-exited', jobId: a.jobId, attempt: a.attempt, workerId: worker.id, containerId: null,
          startedAt: startedAt?.toISOString() ?? null, stoppedAt: stoppedAt.toISOString(),
          end: { kind: 'worker-lost', workerId: worker.id }, logs: [], logsTruncated: false,
        });
      }
      this.logger.warn({ workerId: worker.id, attempts: attempts.length }, 'worker lost: its attempts failed and were freed');
      recovered = true;
    }
    return recovered;
  }

  /** A LOST (or departed) worker came back: it must stop the containers of attempts already failed as lost, not report them. */
  private async stopStaleAttempts(workerId: string): Promise<void> {
    const stale: { job_id: string; attempt: number }[] = await this.db.query(
      `SELECT job_id, attempt FROM job_attempts
       WHERE worker_id = $1 AND reason = $2 AND stopped_at > now() - interval '7 days'`,
      [workerId, `Worker lost: ${workerId}`],
    );
    for (const a of stale) {
      await this.dispatcher.command(workerId, { type: 'terminate', jobId: a.job_id, attempt: a.attempt, reason: `Worker lost: ${workerId}` });
    }
    if (stale.length) this.logger.warn({ workerId, attempts: stale.length }, 'worker is back: told it to stop attempts failed as lost');
  }

  /** GPU quotas and spent budgets by project; true when they changed. */
  private async readProjectLimits(now: number): Promise<boolean> {
    const projects: PassContext['projects'] = new Map(
      (await projectStandings(this.db, new Date(now)))
        .filter((p) => p.gpuQuota !== null || p.monthlyBudget !== null)
        .map((p) => [p.name, {
          gpuQuota: p.gpuQuota,
          budgetSpent: p.monthlyBudget !== null && compareMoney(p.spentThisMonth, p.monthlyBudget) >= 0
            ? { spent: p.spentThisMonth, budget: p.monthlyBudget, currency: p.currency, month: p.month }
            : undefined,
        }]),
    );
    // Only what changes a decision counts as a change, not every cent spent.
    const seen = JSON.stringify([...projects].map(([name, p]) => [name, p.gpuQuota, p.budgetSpent ? [p.budgetSpent.budget, p.budgetSpent.month] : null]));
    this.projects = projects;
    const changed = seen !== this.projectsSeen;
    this.projectsSeen = seen;
    return changed;
  }

  /** Decayed GPU-seconds per project from the usage rows: Slurm-style fair share. */
  private async projectUsage(): Promise<Map<string, number>> {
    const halfLife = this.config.fairShareHalfLifeSeconds;
    const rows: { project: string; usage: number }[] = await this.db.query(
      `SELECT project, sum(gpus * billed_seconds * power(0.5, extract(epoch FROM now() - stopped_at) / $1))::float8 AS usage
       FROM usage WHERE started_at > now() - make_interval(secs => $1 * 10)
       GROUP BY project`,
      [halfLife],
    );
    return new Map(rows.map((r) => [r.project, r.usage]));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retentionTimer);
    await Promise.all([this.running, this.sweeping]);
    await this.intake.close();
    await this.events?.close();
    if (this.eventsConnection) await closeRedis(this.eventsConnection);
    await this.dispatcher.close();
  }
}
