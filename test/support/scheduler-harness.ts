import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadSchedulerConfig } from '#libs/config';
import { createLogger } from '#libs/log';
import { eventJobId, QueueNames, RedisKeys, type DispatchPayload, type WorkerDescriptor, type WorkerEvent } from '#libs/queue';
import { startScheduler } from '../../apps/scheduler/src/scheduler.js';
import { testEnv } from './test-env.js';

export type Scheduler = Awaited<ReturnType<typeof startScheduler>>;

/** Starts a real scheduler replica against the test Postgres and Redis. */
export async function startTestScheduler(env: Record<string, string> = {}): Promise<Scheduler> {
  const { databaseUrl, redisUrl } = testEnv();
  const config = loadSchedulerConfig({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, SCHEDULER_INTERVAL_MS: '100', ...env });
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

  async join(d: Partial<WorkerDescriptor> & { id: string }): Promise<WorkerDescriptor> {
    const descriptor: WorkerDescriptor = {
      pool: 'default', hostname: 'test-host', vcpus: 4, memoryMiB: 8192, gpus: [], state: 'ACTIVE',
      heartbeatAt: Date.now(), startedAt: Date.now(), ...d,
    };
    await this.redis.hset(RedisKeys.workers, descriptor.id, JSON.stringify(descriptor));
    await this.report({ type: 'worker-changed', workerId: descriptor.id });
    return descriptor;
  }

  async dispatched(workerId: string): Promise<DispatchPayload[]> {
    let queue = this.dispatchQueues.get(workerId);
    if (!queue) this.dispatchQueues.set(workerId, (queue = new Queue(QueueNames.dispatch(workerId), { connection: this.redis })));
    const jobs = await queue.getJobs(['waiting', 'prioritized', 'active', 'completed']);
    return jobs.map((j) => j.data).sort((a, b) => a.jobId.localeCompare(b.jobId) || a.attempt - b.attempt);
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
    await Promise.all([...this.dispatchQueues.values(), this.events].map((q) => q.close()));
    this.redis.disconnect();
  }
}
