import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis, QueueNames, type ControlCommand } from '#libs/queue';
import type { AttemptRegistry } from './attempt-registry.js';

export interface ControlConsumerOptions {
  redisUrl: string;
  workerId: string;
}

/**
 * Takes the commands sent to this worker (terminate an attempt) and hands
 * them to the attempts it runs. A command never fails: an attempt that has
 * ended or is not here yet is not an error.
 */
export class ControlConsumer {
  private readonly connection: Redis;
  private readonly worker: Worker<ControlCommand>;
  private running: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    options: ControlConsumerOptions,
    private readonly attempts: AttemptRegistry,
    private readonly logger: Logger,
    /**
     * Stops a container of this attempt left by an earlier process of this
     * worker (killed, then restarted): this process never claimed it, but the
     * scheduler has already failed it as lost and may have reused its GPUs.
     */
    private readonly stopLeftover: (jobId: string, attempt: number) => Promise<void> = async () => undefined,
  ) {
    // Its own connection: its blocking fetch must not wait behind the dispatch consumer's.
    this.connection = createRedis(options.redisUrl, `worker-${options.workerId}-control`);
    this.worker = new Worker<ControlCommand>(QueueNames.control(options.workerId), async (job) => this.process(job), {
      connection: this.connection,
      concurrency: 8,
      autorun: false,
    });
    this.worker.on('error', (error) => this.logger.error({ err: error }, 'control consumer error'));
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = this.worker.run().catch((error: Error) => this.logger.error({ err: error }, 'control consumer stopped'));
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

  private async process(job: Job<ControlCommand>): Promise<void> {
    const command = job.data as Partial<ControlCommand> | undefined;
    if (command?.type !== 'terminate' || typeof command.jobId !== 'string' || !Number.isInteger(command.attempt)) {
      this.logger.warn({ controlJobId: job.id, command }, 'ignoring an unknown control command');
      return;
    }
    const reason = typeof command.reason === 'string' && command.reason.trim() !== '' ? command.reason : 'Terminated by request';
    try {
      const result = this.attempts.terminate({ jobId: command.jobId, attempt: command.attempt!, reason });
      this.logger.info({ jobId: command.jobId, attempt: command.attempt, reason, result }, 'terminate received');
      if (result === 'remembered') await this.stopLeftover(command.jobId, command.attempt!);
    } catch (error) {
      // Not expected (terminate does not throw); a command must never bounce back for a retry.
      this.logger.error({ err: error, jobId: command.jobId, attempt: command.attempt }, 'terminate failed');
    }
  }
}
