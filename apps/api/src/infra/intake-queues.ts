import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { bullPriority, JobIds, QueueNames, type IntakePayload } from '#libs/queue';

/** Producer side of the intake queues: one BullMQ queue per job queue, opened lazily. */
export class IntakeQueues {
  private readonly queues = new Map<string, Queue<IntakePayload>>();

  constructor(private readonly redis: Redis) {}

  /** Adds a committed job; the job id is ours, so adding twice is a no-op. */
  async add(jobQueue: string, jobId: string, priority: number): Promise<void> {
    await this.queue(jobQueue).add('job', { jobId }, {
      jobId: JobIds.intake(jobId),
      priority: bullPriority(priority),
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  private queue(name: string): Queue<IntakePayload> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue<IntakePayload>(QueueNames.intake(name), { connection: this.redis });
      this.queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
