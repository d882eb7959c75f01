import type { Logger } from '#libs/log';
import { QueueConsumer, QueueNames, type IntakePayload } from '#libs/queue';

/**
 * Takes submitted job ids off every job queue's intake. The ids are only
 * collected here; the next placement pass loads them from Postgres in one query.
 */
export class IntakeConsumers {
  private readonly consumers = new Map<string, QueueConsumer<IntakePayload>>();
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
      if (this.consumers.has(name)) continue;
      const consumer = new QueueConsumer<IntakePayload>(QueueNames.intake(name), async (job) => {
        if (job.data.jobId) this.pending.add(job.data.jobId);
        for (const id of job.data.jobIds ?? []) this.pending.add(id);
        this.onIntake();
      }, { redisUrl: this.redisUrl, connectionName: `intake-${name}`, label: `intake ${name}`, concurrency: 50 }, this.logger);
      // Not awaited: a pass must not wait for Redis; the consumer connects when it can.
      consumer.start().catch((err: Error) => this.logger.warn({ err, queue: name }, 'intake consumer not ready yet'));
      this.consumers.set(name, consumer);
    }
    for (const [name, consumer] of this.consumers) {
      if (wanted.has(name)) continue;
      this.consumers.delete(name);
      await consumer.close();
    }
  }

  /** The job ids taken in since the last call. */
  drain(): string[] {
    const ids = [...this.pending];
    this.pending = new Set();
    return ids;
  }

  async close(): Promise<void> {
    const consumers = [...this.consumers.values()];
    this.consumers.clear();
    await Promise.all(consumers.map((c) => c.close()));
  }
}
