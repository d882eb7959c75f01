import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis, QueueNames, type IntakePayload } from '#libs/queue';

/**
 * Takes submitted job ids off every job queue's intake. The ids are only
 * collected here; the next placement pass loads them from Postgres in one query.
 */
export class IntakeConsumers {
  private readonly workers = new Map<string, { worker: Worker<IntakePayload>; connection: Redis }>();
  private pending = new Set<string>();

  constructor(
    private readonly redisUrl: string,
    private readonly onIntake: () => void,
    private readonly logger: Logger,
  ) {}

  /** Starts consumers for new job queues and stops those of deleted ones. */
  async follow(jobQueues: string[]): Promise<void> {
    const wanted = new Set(jobQueues);
    for (const name of wanted) {
      if (this.workers.has(name)) continue;
      const connection = createRedis(this.redisUrl, `intake-${name}`);
      const worker = new Worker<IntakePayload>(
        QueueNames.intake(name),
        async (job) => {
          this.pending.add(job.data.jobId);
          this.onIntake();
        },
        { connection, concurrency: 50 },
      );
      worker.on('error', (err) => this.logger.error({ err, queue: name }, 'intake consumer error'));
      this.workers.set(name, { worker, connection });
    }
    for (const [name, consumer] of this.workers) {
      if (wanted.has(name)) continue;
      this.workers.delete(name);
      await closeConsumer(consumer);
    }
  }

  /** The job ids taken in since the last call. */
  drain(): string[] {
    const ids = [...this.pending];
    this.pending = new Set();
    return ids;
  }

  async close(): Promise<void> {
    const workers = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(workers.map(closeConsumer));
  }
}

async function closeConsumer(c: { worker: Worker; connection: Redis }): Promise<void> {
  await c.worker.close();
  await closeRedis(c.connection);
}
