import type { Job } from 'bullmq';
import type { Logger } from '#libs/log';
import { QueueConsumer, QueueNames, type DispatchPayload } from '#libs/queue';
import type { AttemptRegistry } from '../control/attempt-registry.js';
import type { EventReporter } from '../reporter/event-reporter.js';
import { reportRun } from '../reporter/report-run.js';
import type { AttemptRunner } from '../runner/container-runner.js';
import type { GpuSampler } from '../gpu-usage/gpu-sampler.js';

/**
 * How long an idle consumer's blocking wait lasts (BullMQ's drainDelay, 5 s by
 * default). A dispatch wakes it at once (BullMQ's marker); each time the wait
 * ends empty, BullMQ runs its claim script anyway, so with a thousand workers
 * the default costs Redis hundreds of claim scripts a second for nothing.
 * 10 s is the longest block BullMQ itself uses on Redis (a longer one risks a
 * stuck connection after a reconnect, bullmq#1658).
 */
export const IDLE_WAIT_SECONDS = 10;

export interface DispatchConsumerOptions {
  redisUrl: string;
  workerId: string;
  concurrency: number;
}

/**
 * Claims this worker's dispatch jobs and runs each attempt. The BullMQ lock
 * is the worker's lease on the attempt, so the job stays active (and its
 * lock renewed) for as long as the container runs. Each attempt is
 * registered while it runs, so that a terminate command can stop it.
 */
export class DispatchConsumer {
  private readonly workerId: string;
  private readonly consumer: QueueConsumer<DispatchPayload>;

  constructor(
    options: DispatchConsumerOptions,
    private readonly runner: AttemptRunner,
    private readonly reporter: EventReporter,
    private readonly attempts: AttemptRegistry,
    private readonly logger: Logger,
    /** Samples the GPUs of running attempts; none in tests that do not need it. */
    private readonly gpus: GpuSampler | null = null,
  ) {
    this.workerId = options.workerId;
    // Its own connection: a worker's blocking fetch must not stall other commands.
    this.consumer = new QueueConsumer(QueueNames.dispatch(options.workerId), (job) => this.process(job), {
      redisUrl: options.redisUrl, connectionName: `worker-${options.workerId}-dispatch`, label: 'dispatch',
      concurrency: options.concurrency,
      // A lock lost while the container still runs (Redis away past the lock duration) must not hand the
      // attempt out again: a second claim would replace the running container and start the job over.
      // The first claim still reports the exit; a dead worker's attempts are the scheduler's (Worker lost).
      maxStalledCount: 0,
      drainDelay: IDLE_WAIT_SECONDS,
    }, logger);
    this.consumer.worker.on('failed', (job, error) =>
      this.logger.error({ err: error, dispatchJobId: job?.id }, 'attempt ended without an exit report'),
    );
  }

  /** Starts every dispatch lock token this process takes (`${claimerId}:n`); new with each process. */
  get claimerId(): string {
    return this.consumer.worker.id;
  }

  /** Starts claiming jobs; resolves once the consumer is connected. */
  start(): Promise<void> {
    return this.consumer.start();
  }

  /** Stops claiming, waits for the attempts in progress to finish and report, then disconnects. */
  close(): Promise<void> {
    return this.consumer.close();
  }

  private async process(job: Job<DispatchPayload>): Promise<void> {
    const payload = job.data;
    const adopted = this.attempts.whenReleased(payload.jobId, payload.attempt);
    if (adopted) {
      // Delivered again after a restart of this worker, which adopted the attempt's container:
      // a second container would start the job over. The adoption reports; this claim holds the lease till then.
      this.logger.info({ jobId: payload.jobId, attempt: payload.attempt, dispatchJobId: job.id }, 'claimed an attempt this worker already runs; following it');
      await adopted;
      return;
    }
    const claimed = this.attempts.claim(payload.jobId, payload.attempt);
    try {
      if ((payload.secretEnvironment && Object.keys(payload.secretEnvironment).length > 0) || payload.registryAuth) {
        // Secret values and pull credentials stay in Redis only until claimed: the kept copy (dedupe) holds the names, never the values.
        const { secretEnvironment: _secrets, registryAuth: _auth, ...withoutSecrets } = payload;
        await job.updateData(withoutSecrets);
      }
      let sampling: ReturnType<GpuSampler['track']> | undefined;
      await reportRun(this.reporter, { ...payload, workerId: this.workerId }, this.logger, (hooks) =>
        this.runner.run(payload, {
          signal: claimed.signal,
          onPulling: hooks.onPulling,
          onRunning: (event) => {
            // From the container's start: time spent pulling the image is not the job's use of its GPUs.
            sampling = this.gpus?.track(`${payload.jobId}#${payload.attempt}`, payload.gpuDevices);
            return hooks.onRunning(event);
          },
          onExited: async (event) => {
            const gpuUtilization = await sampling?.finish();
            return hooks.onExited!(gpuUtilization ? { ...event, gpuUtilization } : event);
          },
        }),
      );
    } finally {
      claimed.release();
    }
  }
}
