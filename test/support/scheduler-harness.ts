import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadSchedulerConfig } from '#libs/config';
import { createLogger } from '#libs/log';
import { eventJobId, QueueNames, RedisKeys, type ControlCommand, type DispatchPayload, type WorkerDescriptor, type WorkerEvent } from '#libs/queue';
import { startScheduler } from '../../apps/scheduler/src/scheduler.js';
import { testEnv } from './test-env.js';

export type Scheduler = Awaited<ReturnType<typeof startScheduler>>;

/** Starts a real scheduler replica against the test Postgres and Redis. */
export async function startTestScheduler(env: Record<string, string> = {}): Promise<Scheduler> {
  const { databaseUrl, redisUrl } = testEnv();
  // Test workers join without tokens unless a test turns worker auth on.
  const config = loadSchedulerConfig({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, SCHEDULER_INTERVAL_MS: '100', GPUBATCH_WORKER_AUTH: 'off', ...env });
  return startScheduler(config, createLogger('scheduler-test', 'silent'));
}

/**
 * Speaks a worker's side of the Redis protocol (heartbeat entry, dispatch
 * queue, event reports) so scheduler tests can choose exactly what a worker
 * reports and when. The real worker is exercised in worker and e2e tests.
 */
export class WorkerProtocol {
  readonly redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: null });
  private readonly events = new Queue<WorkerEvent>(QueueNames.events, { connection: this.redis });
  private readonly dispatchQueues = new Map<string, Queue<DispatchPayload>>();
  private readonly claimers: { worker: Worker; connection: Redis; release: () => void }[] = [];
  private readonly beating = new Set<NodeJS.Timeout>();

  async join(d: Partial<WorkerDescriptor> & { id: string }): Promise<WorkerDescriptor> {
    const descriptor: WorkerDescriptor = {
      pool: 'default', hostname: 'test-host', vcpus: 4, memoryMiB: 8192, gpus: [], state: 'ACTIVE',
      heartbeatAt: Date.now(), startedAt: Date.now(), ...d,
    };
    await this.redis.multi().set(RedisKeys.worker(descriptor.id), JSON.stringify(descriptor))
      .hset(RedisKeys.workerPools, descriptor.id, descriptor.pool).exec();
    await this.report({ type: 'worker-changed', workerId: descriptor.id });
    return descriptor;
  }

  async dispatched(workerId: string): Promise<DispatchPayload[]> {
    let queue = this.dispatchQueues.get(workerId);
    if (!queue) this.dispatchQueues.set(workerId, (queue = new Queue(QueueNames.dispatch(workerId), { connection: this.redis })));
    const jobs = await queue.getJobs(['waiting', 'prioritized', 'active', 'completed']);
    return jobs.map((j) => j.data).sort((a, b) => a.jobId.localeCompare(b.jobId) || a.attempt - b.attempt);
  }

  /** Claims (and holds, as a running worker does) every attempt dispatched to `workerId`. Returns the claimer id its lock tokens start with. */
  async claim(workerId: string): Promise<string> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const connection = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(QueueNames.dispatch(workerId), () => held, { connection, concurrency: 16 });
    this.claimers.push({ worker, connection, release });
    await worker.waitUntilReady();
    return worker.id;
  }

  /** The commands queued for a worker (terminate). */
  async commands(workerId: string): Promise<ControlCommand[]> {
    const queue = new Queue<ControlCommand>(QueueNames.control(workerId), { connection: this.redis });
    try {
      return (await queue.getJobs(['waiting'])).map((j) => j.data);
    } finally {
      await queue.close();
    }
  }

  /**
   * Beats for a joined worker every `everyMs`, as a live worker does: its
   * heartbeatAt is its own clock (`skewMs` off the real one) and, when
   * `attempts` is given, each beat lists what it returns (and `claimer`, the
   * process's dispatch claimer id). Returns a stop
   * function (the worker falls silent); beating stops with the test.
   */
  heartbeat(workerId: string, opts: { everyMs?: number; skewMs?: number; attempts?: () => string[]; claimer?: () => string } = {}): () => void {
    const beat = async () => {
      const d = JSON.parse((await this.redis.get(RedisKeys.worker(workerId)))!);
      await this.redis.set(RedisKeys.worker(workerId), JSON.stringify({
        ...d, heartbeatAt: Date.now() + (opts.skewMs ?? 0), ...(opts.attempts ? { attempts: opts.attempts() } : {}),
        ...(opts.claimer ? { claimer: opts.claimer() } : {}),
      }));
    };
    const timer = setInterval(() => void beat().catch(() => undefined), opts.everyMs ?? 200);
    this.beating.add(timer);
    return () => {
      clearInterval(timer);
      this.beating.delete(timer);
    };
  }

  /** Makes a worker's heartbeat `ageMs` old, as if it went silent. */
  async silence(workerId: string, ageMs: number): Promise<void> {
    const d = JSON.parse((await this.redis.get(RedisKeys.worker(workerId)))!);
    await this.redis.set(RedisKeys.worker(workerId), JSON.stringify({ ...d, heartbeatAt: Date.now() - ageMs }));
  }

  async report(event: WorkerEvent): Promise<void> {
    await this.events.add(event.type, event, { jobId: eventJobId(event), removeOnComplete: true });
  }

  /** Resolves once the scheduler has consumed every report sent so far. */
  async reportsConsumed(): Promise<boolean> {
    const counts = await this.events.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(counts).every((n) => n === 0);
  }

  async close(): Promise<void> {
    for (const timer of this.beating) clearInterval(timer);
    for (const c of this.claimers) c.release();
    await Promise.all(this.claimers.map(async (c) => {
      await c.worker.close(true);
      c.connection.disconnect();
    }));
    await Promise.all([...this.dispatchQueues.values(), this.events].map((q) => q.close()));
    this.redis.disconnect();
  }
}
