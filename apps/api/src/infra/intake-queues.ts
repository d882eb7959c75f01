import { bullPriority, JobIds, QueueNames, QueueProducers, type IntakePayload } from '#libs/queue';

const ADD_TIMEOUT_MS = 2000;

/** Producer side of the intake queues: one BullMQ queue per job queue, opened lazily. */
export class IntakeQueues extends QueueProducers {
  /**
   * Adds a committed job; the job id is ours, so adding twice is a no-op.
   * Bounded in time: BullMQ waits for Redis without limit, and the caller's
   * job is already safe in Postgres, where the scheduler's sweep finds it.
   */
  async add(jobQueue: string, jobId: string, priority: number): Promise<void> {
    const added = this.queue<IntakePayload>(QueueNames.intake(jobQueue)).add('job', { jobId }, {
      jobId: JobIds.intake(jobId),
      priority: bullPriority(priority),
      removeOnComplete: true,
      removeOnFail: true,
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`intake add timed out after ${ADD_TIMEOUT_MS} ms`)), ADD_TIMEOUT_MS);
    });
    try {
      await Promise.race([added, timeout]);
    } finally {
      clearTimeout(timer);
      added.catch(() => undefined); // settled later, or never: nothing waits on it any more
    }
  }
}
