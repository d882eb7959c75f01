import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobIds, QueueNames, type ControlCommand, type DispatchPayload } from '#libs/queue';

// Completed dispatch entries stay a day so that re-adding an attempt after a
// leader change is a no-op instead of a second run.
const KEEP_COMPLETED_SECONDS = 24 * 3600;

/** Hands placed attempts to their workers' dispatch queues. */
export class Dispatcher {
  private readonly queues = new Map<string, Queue<DispatchPayload>>();
  private readonly controls = new Map<string, Queue<ControlCommand>>();

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

  /** Removes an attempt no worker has claimed yet; false when it is gone or claimed. */
  async withdraw(workerId: string, jobId: string, attempt: number): Promise<boolean> {
    const job = await this.queue(workerId).getJob(JobIds.dispatch(jobId, attempt));
    if (!job || !(await job.isWaiting())) return false;
    return job.remove().then(() => true, () => false);
  }

  async command(workerId: string, command: ControlCommand): Promise<void> {
    let queue = this.controls.get(workerId);
    if (!queue) {
      queue = new Queue<ControlCommand>(QueueNames.control(workerId), { connection: this.redis });
      this.controls.set(workerId, queue);
    }
    await queue.add(command.type, command, { jobId: JobIds.terminate(command.jobId, command.attempt), removeOnComplete: true, removeOnFail: true });
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
    await Promise.all([...this.queues.values(), ...this.controls.values()].map((q) => q.close()));
    this.queues.clear();
    this.controls.clear();
  }
}
