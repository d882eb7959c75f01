import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { eventJobId, QueueNames, type WorkerEvent } from '#libs/queue';

/** Producer side of the events queue: what this worker tells the scheduler. */
export class EventReporter {
  private readonly queue: Queue<WorkerEvent>;

  /**
   * `connection` should be a consumer connection (maxRetriesPerRequest: null):
   * an add then waits out a Redis blip instead of losing the report.
   */
  constructor(connection: Redis) {
    this.queue = new Queue<WorkerEvent>(QueueNames.events, { connection });
  }

  async report(event: WorkerEvent): Promise<void> {
    const jobId = eventJobId(event);
    const options: JobsOptions = {
      removeOnComplete: true,
      // The scheduler retries recording a report that failed (e.g. Postgres blip).
      attempts: 8,
      backoff: { type: 'exponential', delay: 500 },
      ...(jobId ? { jobId } : {}),
    };
    await this.queue.add(event.type, event, options);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
