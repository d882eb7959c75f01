import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobIds, QueueNames, type DispatchPayload } from '#libs/queue';

// Completed dispatch entries stay a day so that re-adding an attempt after a
// leader change is a no-op instead of a second run.
const KEEP_COMPLETED_SECONDS = 24 * 3600;

/** Hands placed attempts to their workers' dispatch queues. */
export class Dispatcher {
  private readonly queues = new Map<string, Queue<DispatchPayload>>();

  constructor(private readonly redis: Redis) {}

  async dispatch(workerId: string, payloads: DispatchPayload[]): Promise<void> {
    if (payloads.length === 0) return;
    await this.queue(workerId).addBulk(payloads.map((p) => ({
      name: 'attempt',
      data: p,
      opts: {
        jobId: JobIds.dispatch(p.jobId, p.attempt),
        removeOnComplete: { age: KEEP_COMPLETED_SECONDS },
        removeOnFail: { age: KEEP_COMPLETED_SECONDS },
      },
    })));
  }

  private queue(workerId: string): Queue<DispatchPayload> {
    let queue = this.queues.get(workerId);
    if (!queue) {
      queue = new Queue<DispatchPayload>(QueueNames.dispatch(workerId), { connection: this.redis });
      this.queues.set(workerId, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
