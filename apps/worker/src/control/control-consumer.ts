import type { Job } from 'bullmq';
import type { Logger } from '#libs/log';
import { QueueConsumer, QueueNames, type ControlCommand } from '#libs/queue';
import type { AttemptRegistry } from './attempt-registry.js';
import { jobDir, writeAck } from '../runner/job-data.js';
import { IDLE_WAIT_SECONDS } from '../dispatch/dispatch-consumer.js';

export interface ControlConsumerOptions {
  redisUrl: string;
  workerId: string;
  /** Where job directories live (the runner's jobDataDir): an acknowledgement through the API is written there. */
  jobDataDir?: string;
}

/**
 * Takes the commands sent to this worker (terminate an attempt) and hands
 * them to the attempts it runs. A command never fails: an attempt that has
 * ended or is not here yet is not an error.
 */
export class ControlConsumer {
  private readonly consumer: QueueConsumer<ControlCommand>;

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
    private readonly jobDataDir?: string,
    /** A spot interruption reached this worker through the API (POST /workers/{id}/interrupt). */
    private readonly onInterrupt: (deadline: number) => void = () => {},
  ) {
    // Its own connection: its blocking fetch must not wait behind the dispatch consumer's.
    this.consumer = new QueueConsumer(QueueNames.control(options.workerId), (job) => this.process(job), {
      redisUrl: options.redisUrl, connectionName: `worker-${options.workerId}-control`, label: 'control', concurrency: 8,
      drainDelay: IDLE_WAIT_SECONDS,
    }, logger);
  }

  start(): Promise<void> {
    return this.consumer.start();
  }

  close(): Promise<void> {
    return this.consumer.close();
  }

  private async process(job: Job<ControlCommand>): Promise<void> {
    const interrupt = job.data as { type?: string; deadline?: unknown } | undefined;
    if (interrupt?.type === 'interrupt') {
      const deadline = typeof interrupt.deadline === 'string' ? Date.parse(interrupt.deadline) : NaN;
      if (Number.isFinite(deadline)) this.onInterrupt(deadline);
      else this.logger.warn({ command: interrupt }, 'ignoring an interrupt without a valid deadline');
      return;
    }
    const command = job.data as Partial<ControlCommand> | undefined;
    if (command?.type === 'preempt' && typeof command.jobId === 'string' && Number.isInteger(command.attempt)) {
      const graceSeconds = Number.isInteger(command.graceSeconds) && command.graceSeconds! >= 0 ? command.graceSeconds! : 30;
      const signal = typeof command.signal === 'string' && /^SIG[A-Z0-9]{2,8}$/.test(command.signal) ? command.signal : 'SIGUSR1';
      const started = this.attempts.preempt({ jobId: command.jobId, attempt: command.attempt!, by: String(command.by), graceSeconds, signal });
      this.logger.info({ jobId: command.jobId, attempt: command.attempt, by: command.by, graceSeconds, started }, 'preemption received');
      return;
    }
    if (command?.type === 'checkpoint-ack' && typeof command.jobId === 'string') {
      if (this.jobDataDir) {
        await writeAck(jobDir(this.jobDataDir, command.jobId)).catch((err: Error) => this.logger.warn({ err, jobId: command.jobId }, 'cannot write the acknowledgement'));
      }
      this.logger.info({ jobId: command.jobId, attempt: command.attempt }, 'checkpoint acknowledged through the API');
      return;
    }
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
