import { Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis } from './connection.js';

/**
 * A BullMQ consumer on a Redis connection of its own, so its blocking fetch
 * waits behind no other command. It claims nothing until started; closing
 * (once, however often asked) stops claiming, lets the jobs in progress
 * finish, then disconnects.
 */
export class QueueConsumer<T> {
  readonly worker: Worker<T>;
  private readonly connection: Redis;
  private readonly label: string;
  private running: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    queue: string,
    processor: (job: Job<T>) => Promise<void>,
    options: { redisUrl: string; connectionName: string; label: string } & Omit<WorkerOptions, 'connection' | 'autorun'>,
    private readonly logger: Logger,
  ) {
    const { redisUrl, connectionName, label, ...workerOptions } = options;
    this.connection = createRedis(redisUrl, connectionName);
    this.worker = new Worker<T>(queue, processor, { ...workerOptions, connection: this.connection, autorun: false });
    this.worker.on('error', (error) => this.logger.error({ err: error }, `${label} consumer error`));
    this.label = label;
  }

  /** Starts claiming jobs; resolves once the consumer is connected. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = this.worker.run().catch((error: Error) => this.logger.error({ err: error }, `${this.label} consumer stopped`));
    await this.worker.waitUntilReady();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.worker.close();
      await this.running;
      await closeRedis(this.connection);
    })();
    return this.closing;
  }
}
