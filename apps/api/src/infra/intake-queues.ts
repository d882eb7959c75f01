import { bullPriority, JobIds, QueueNames, QueueProducers, type IntakePayload } from '#libs/queue';

const ADD_TIMEOUT_MS = 2000;

/** Producer side of the intake queues: one BullMQ queue per job queue, opened lazily. */
export class IntakeQueues extends QueueProducers {
  /** Adds one committed job. */
  add(jobQueue: string, jobId: string, priority: number): Promise<void> {
    return this.addMany(jobQueue, [jobId], priority);
  }

  /**
   * Wakes the scheduler for committed jobs of one queue with one message,
   * however many there are: it loads them from Postgres by id. The message id
   * is the first job's, so adding it twice is a no-op. Bounded in time:
   * BullMQ waits for Redis without limit, and the jobs are already safe in
   * Postgres, where the scheduler's sweep finds them.
   */
  async addMany(jobQueue: string, jobIds: string[], priority: number): Promise<void> {
    if (jobIds.length === 0) return;
    const payload: IntakePayload = jobIds.length === 1 ? { jobId: jobIds[0] } : { jobIds };
    const added = this.queue<IntakePayload>(QueueNames.intake(jobQueue)).add('job', payload, {
      jobId: JobIds.intake(jobIds[0]),
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
