import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '#libs/core';
import type { SchedulerConfig } from '#libs/config';
import { FencedError, type Fence } from '#libs/db';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis, QueueNames, WorkerQueues, type WorkerEvent } from '#libs/queue';
import { MeteringSystem } from '../billing/metering.system.js';
import { DependencySettlementSystem } from '../dependencies/dependency-settlement.system.js';
import { IntakeConsumers } from '../intake/intake-consumers.js';
import { IntakeSystem } from '../intake/intake.system.js';
import { AttemptEnder } from '../lifecycle/attempt-ender.js';
import { AttemptReconciliationSystem } from '../lifecycle/attempt-reconciliation.system.js';
import { AttemptTimeoutSystem } from '../lifecycle/attempt-timeout.system.js';
import { PlacementPass } from '../placement/placement-pass.js';
import { PlacementSystem } from '../placement/placement.system.js';
import { QueueCatalogSystem } from '../placement/queue-catalog.system.js';
import { ProjectLimitsSystem } from '../projects/project-limits.system.js';
import { rebuildFromPostgres } from '../reconciler/rebuild.js';
import { completeDispatch } from '../placement/dispatch-details.js';
import { DispatchSender } from '../placement/dispatch-sender.js';
import { EventRecorder, RefusedReportError } from '../recorder/event-recorder.js';
import { schedulerMetrics } from '../metrics/scheduler-metrics.js';
import { RetentionSystem } from '../retention/retention.system.js';
import { ClusterState } from '../state/cluster-state.js';
import { LostWorkerRecoverySystem } from '../workers/lost-worker-recovery.system.js';
import { WorkerLivenessSystem } from '../workers/worker-liveness.system.js';
import { WorkerRegistry } from '../workers/worker-registry.js';
import type { SchedulerSystem } from './scheduler-system.js';

/** Worker reports taken off the events queue at once: what one recorder batch can hold. */
const REPORTS_IN_HAND = 256;

export type CoordinatorConfig = Pick<SchedulerConfig,
  'redisUrl' | 'intervalMs' | 'workerTimeoutMs' | 'fairShareHalfLifeSeconds' | 'fairShareWeights' | 'usageAccrualSeconds' |
  'jobRetentionDays' | 'attemptGraceMs' | 'timeoutGraceSeconds' | 'terminateRepeatMs'> & Partial<Pick<SchedulerConfig, 'workerAuth' | 'secrets' | 'passStatsFile' | 'preemption'>>;

/**
 * What the leader runs: the systems, one per concern, each on its own
 * cadence and the one clock. Passes never overlap (everything that changes
 * the cluster model runs inside one); worker reports are recorded as they
 * arrive (in batches), and retention runs beside the passes. Built when a scheduler
 * becomes leader, closed when it stops leading.
 *
 * A pass is full (every system, then placement) SCHEDULER_INTERVAL_MS
 * after the last full one ended, and at once when a worker joins, drains or
 * leaves. Counted from the end: when passes take longer than the interval
 * (a loaded machine, a thousand workers), full ones still alternate with
 * quick ones instead of every pass being full.
 * A pass asked for by a submit or a report in between is quick: only the
 * systems that feed placement what such a change brings (queue catalog,
 * intake, project limits), then placement. A submitted job then waits for
 * at most the pass in progress and its own quick one, not for a heartbeat
 * read of every worker and the sweeps that the interval paces anyway.
 */
export class SchedulerCoordinator {
  private readonly state = new ClusterState();
  private readonly registry: WorkerRegistry;
  private readonly dispatcher: WorkerQueues;
  /** Sends each pass's committed placements behind it. */
  private readonly sender: DispatchSender;
  private readonly intake: IntakeConsumers;
  private readonly recorder: EventRecorder;
  /** In pass order: each may use what the ones before it read. */
  private readonly systems: SchedulerSystem[];
  /** The systems a quick pass runs (in the same order as a full one). */
  private readonly everyPass: ReadonlySet<SchedulerSystem>;
  /** The next pass is full: an interval has gone by since the last full one, a worker changed, or a full pass failed. */
  private fullDue = true;
  /** Armed when a full pass ends: the next one is due an interval later, however long the passes in between. */
  private fullTimer: NodeJS.Timeout | undefined;
  private readonly placement: PlacementSystem;
  private readonly catalog: QueueCatalogSystem;
  private readonly beside: SchedulerSystem[];
  private events: Worker<WorkerEvent> | undefined;
  private eventsConnection: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private runningBeside: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private changed = true;

  constructor(
    private readonly db: DataSource,
    redis: Redis,
    private readonly config: CoordinatorConfig,
    private readonly logger: Logger,
    /** False once this replica can no longer be sure it leads: nothing is placed then. */
    leaseValid: () => boolean = () => true,
    private readonly clock: Clock = systemClock,
    /** This leader's epoch; `onFenced` runs when Postgres refuses a write because a newer leader took over. */
    private readonly leadership: { fence?: Fence; onFenced?: () => void } = {},
  ) {
    const fence = () => leadership.fence;
    const startedAt = clock.now();
    this.registry = new WorkerRegistry(db, redis, this.state, logger, config.workerAuth ?? 'off');
    this.dispatcher = new WorkerQueues(redis);
    this.sender = new DispatchSender(this.dispatcher, logger);
    this.intake = new IntakeConsumers(config.redisUrl, () => this.wake(true), logger);
    this.recorder = new EventRecorder(db, this.state, (what) => this.wake(true, what === 'workers'), logger, fence, config.workerAuth ?? 'off', config.secrets ?? null, async (workerId, jobId, attempt, reason) => {
      // Not claimed yet: withdrawn, so it never starts; claimed: the worker stops its container.
      if (!(await this.dispatcher.withdraw(workerId, jobId, attempt))) await this.dispatcher.command(workerId, { type: 'terminate', jobId, attempt, reason });
    });
    const ender = new AttemptEnder(this.recorder);
    const liveness = new WorkerLivenessSystem(this.registry, config.workerTimeoutMs, startedAt, logger);
    const catalog = new QueueCatalogSystem(db, startedAt, () => this.wake(true));
    this.catalog = catalog;
    const projects = new ProjectLimitsSystem(db, startedAt, logger);
    const intake = new IntakeSystem(db, this.state, this.intake, catalog, this.dispatcher, startedAt, (payloads) => completeDispatch(db, config.secrets, payloads, logger));
    this.systems = [
      liveness,
      // Before lost-worker recovery: an attempt of a silent worker past its timeout ends as timed out, not retried.
      new AttemptTimeoutSystem(db, liveness, ender, config, startedAt, logger),
      new LostWorkerRecoverySystem(db, this.state, this.registry, liveness, this.dispatcher, ender, config.workerTimeoutMs, logger),
      new AttemptReconciliationSystem(db, this.state, liveness, this.dispatcher, ender, config, logger),
      catalog,
      intake,
      new DependencySettlementSystem(db, this.state, startedAt),
      new MeteringSystem(db, config.usageAccrualSeconds, startedAt, logger),
      // After intake: a job just taken in was submitted after any project change it must see.
      projects,
    ];
    // A new queue is followed, a submitted job loaded, a project's new quota seen: placement's inputs from the API.
    this.everyPass = new Set<SchedulerSystem>([catalog, intake, projects]);
    this.placement = new PlacementSystem(
      db, new PlacementPass(db, this.state, this.registry, this.dispatcher, this.sender, logger, fence, config.secrets ?? null, config.preemption, config.passStatsFile), catalog, projects, config, leaseValid, startedAt, logger,
    );
    this.beside = [new RetentionSystem(db, config.jobRetentionDays, startedAt, logger)];
  }

  async start(): Promise<void> {
    await this.registry.load();
    const toDispatch = await rebuildFromPostgres(this.db, this.state);
    await completeDispatch(this.db, this.config.secrets, [...toDispatch.values()].flat(), this.logger);
    await this.dispatcher.dispatchAll(toDispatch);
    this.logger.info({ runnable: this.state.runnable.size, redispatched: [...toDispatch.values()].flat().length }, 'rebuilt from Postgres');

    this.catalog.listen(this.config.redisUrl, this.logger);
    this.eventsConnection = createRedis(this.config.redisUrl, 'events');
    this.events = new Worker<WorkerEvent>(
      QueueNames.events,
      async (job) => this.recorder.record(job.data),
      // Many reports in hand at once, so the recorder writes them in one batch; it records them in the order they
      // were taken (queue order), which keeps a job's RUNNING before its exit.
      { connection: this.eventsConnection, concurrency: REPORTS_IN_HAND },
    );
    this.events.on('failed', (job, err) => {
      if (this.fenced(err)) return;
      schedulerMetrics.errors.inc({ kind: err instanceof RefusedReportError ? 'report_refused' : 'report_recording' });
      this.logger.error({ err, event: job?.data }, 'recording a worker report failed');
    });
    this.events.on('error', (err) => this.logger.error({ err }, 'events consumer error'));
    this.timer = setInterval(() => {
      this.wake();
      this.runBeside();
    }, this.config.intervalMs);
    this.wake(true);
  }

  /**
   * Asks for a pass; passes never overlap, and a request during one runs
   * another after it. `changed` says something happened (a submit, a report,
   * a worker); timer passes without a change skip placement. `workers`: a
   * worker joined, drains or left, which only a full pass reads.
   */
  wake(changed = false, workers = false): void {
    if (this.stopped) return;
    if (changed) this.changed = true;
    if (workers) this.fullDue = true;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err: Error) => {
        if (this.fenced(err)) return;
        schedulerMetrics.errors.inc({ kind: 'scheduling_pass' });
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
    const now = this.clock.now();
    // Taken first: anything that happens while this pass runs asks for the next one.
    const changed = this.changed;
    this.changed = false;
    const fullDue = this.fullDue;
    this.fullDue = false;
    // A drain asked through the API (a Redis set, no wake-up) is seen before the next placement, as a full pass would.
    const full = fullDue || (await this.registry.drainsChanged());
    try {
      await this.runSystems(now, full, changed);
    } catch (err) {
      if (full) this.fullDue = true; // its sweeps are still owed
      throw err;
    }
    if (full && !this.stopped) {
      clearTimeout(this.fullTimer);
      this.fullTimer = setTimeout(() => {
        this.fullDue = true;
        this.wake();
      }, this.config.intervalMs);
    }
  }

  private async runSystems(now: number, full: boolean, changedBefore: boolean): Promise<void> {
    let changed = changedBefore;
    const systemsMs: Record<string, number> = {};
    for (const system of this.systems) {
      if (!full && !this.everyPass.has(system)) continue;
      const started = performance.now();
      try {
        changed = (await system.run(now)) || changed;
      } catch (err) {
        if (system.essential || err instanceof FencedError) throw err;
        schedulerMetrics.errors.inc({ kind: `system_${system.name}` });
        this.logger.error({ err, system: system.name }, 'scheduler system failed; the others go on');
        changed = true;
      } finally {
        const ms = performance.now() - started;
        systemsMs[system.name] = Math.round(ms * 10) / 10;
        schedulerMetrics.systemRun.observe({ system: system.name }, ms / 1000);
      }
    }
    if (this.config.passStatsFile) appendFileSync(this.config.passStatsFile, `${JSON.stringify({ at: Date.now(), full, systemsMs })}\n`);
    if (!(await this.placement.run(now, changed))) this.changed = true;
  }

  /** Each worker heard from, with its last heartbeat: the heartbeat-age metric. */
  heartbeats(): { workerId: string; pool: string; heartbeatAt: number }[] {
    return this.registry.heartbeats();
  }

  /** The systems that run beside the passes, one at a time. */
  private runBeside(): void {
    if (this.stopped || this.runningBeside) return;
    const now = this.clock.now();
    this.runningBeside = (async () => {
      for (const system of this.beside) {
        await system.run(now).catch((err: Error) => this.logger.error({ err, system: system.name }, 'scheduler system failed'));
      }
    })().finally(() => {
      this.runningBeside = undefined;
    });
  }

  /** A write refused by the fence: a newer leader took over, so this one stops leading (its work is not lost: the new leader rebuilds from Postgres). */
  private fenced(err: unknown): boolean {
    if (!(err instanceof FencedError)) return false;
    if (!this.stopped) {
      this.logger.warn({ err }, 'deposed: a newer scheduler leader holds the epoch');
      this.stopped = true;
      this.leadership.onFenced?.();
    }
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.fullTimer);
    await Promise.all([this.running, this.runningBeside]);
    // What was committed goes out before the connection closes (were it lost, the next leader would re-add it).
    await this.sender.settled();
    await this.intake.close();
    await this.catalog.close();
    await this.events?.close();
    if (this.eventsConnection) await closeRedis(this.eventsConnection);
    await this.dispatcher.close();
  }
}
