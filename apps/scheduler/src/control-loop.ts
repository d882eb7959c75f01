import { Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import type { SchedulingPolicy } from '#libs/core';
import { settleDependants } from '#libs/db';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis, QueueNames, WorkerQueues, type WorkerEvent } from '#libs/queue';
import { IntakeConsumers } from './intake/intake-consumers.js';
import { PlacementPass, type QueueRow } from './placement/placement-pass.js';
import { loadRunnable, rebuildFromPostgres, staleStartingAttempts, syncRunnable } from './reconciler/rebuild.js';
import { EventRecorder } from './recorder/event-recorder.js';
import { ClusterState } from './state/cluster-state.js';
import { WorkerRegistry } from './workers/worker-registry.js';

// RUNNABLE jobs whose intake add was lost (Redis blip after commit) are found by this sweep.
const RUNNABLE_SWEEP_MS = 30_000;
// Fair-share usage moves slowly (half-lives of days): re-read it this often.
const FAIR_SHARE_REFRESH_MS = 60_000;

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

  constructor(
    private readonly db: DataSource,
    redis: Redis,
    private readonly config: {
      redisUrl: string; intervalMs: number; workerTimeoutMs: number;
      fairShareHalfLifeSeconds: number; fairShareWeights: Map<string, number>;
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
    this.wake(true);
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
    const queues: QueueRow[] = await this.db.query(`SELECT name, priority, pools, scheduling_policy FROM job_queues`);
    const queuesSeen = JSON.stringify(queues);
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
    // Nothing new since the last pass: the same inputs would give the same placements (none) and reasons.
    if (!changed) return;
    if (!this.leaseValid()) {
      this.changed = true;
      this.logger.warn('lease not renewed in time: placing nothing until it is');
      return;
    }
    const placed = await this.placement.run(queues, this.fairShare, now);
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
    const gone = [...this.registry.lost(), ...this.registry.departed(now).map((id) => ({ id, lastHeartbeatAt: now }))];
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

  /** Decayed GPU-seconds per project from the usage rows: Slurm-style fair share. */
  private async projectUsage(): Promise<Map<string, number>> {
    const halfLife = this.config.fairShareHalfLifeSeconds;
    const rows: { project: string; usage: number }[] = await this.db.query(
      `SELECT j.project, sum(u.gpus * u.billed_seconds * power(0.5, extract(epoch FROM now() - u.stopped_at) / $1))::float8 AS usage
       FROM usage u JOIN jobs j ON j.id = u.job_id
       WHERE u.stopped_at > now() - make_interval(secs => $1 * 10)
       GROUP BY j.project`,
      [halfLife],
    );
    return new Map(rows.map((r) => [r.project, r.usage]));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.intake.close();
    await this.events?.close();
    if (this.eventsConnection) await closeRedis(this.eventsConnection);
    await this.dispatcher.close();
  }
}
