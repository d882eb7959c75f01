import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { eventJobId, JobIds, QueueNames, type ControlCommand, type DispatchPayload, type WorkerEvent } from '#libs/queue';

/**
 * The API's side of the scheduler and worker queues, for terminate and
 * cancel: commands to a worker, reports on a worker's behalf, and removal of
 * a dispatch entry no worker has claimed yet.
 */
export class WorkerChannels {
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly redis: Redis) {}

  async command(workerId: string, command: ControlCommand): Promise<void> {
    await this.queue<ControlCommand>(QueueNames.control(workerId)).add(command.type, command, {
      jobId: JobIds.terminate(command.jobId, command.attempt),
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  async report(event: WorkerEvent): Promise<void> {
    await this.queue<WorkerEvent>(QueueNames.events).add(event.type, event, { jobId: eventJobId(event), removeOnComplete: true });
  }

  /** Removes a dispatch entry if no worker holds it; true when it was removed (the attempt never started). */
  async withdraw(workerId: string, jobId: string, attempt: number): Promise<boolean> {
    const job = await this.queue<DispatchPayload>(QueueNames.dispatch(workerId)).getJob(JobIds.dispatch(jobId, attempt));
    if (!job || !(await job.isWaiting())) return false;
    try {
      await job.remove();
      return true;
    } catch {
      return false; // claimed in the meantime: the worker will see the terminate command
    }
  }

  private queue<T>(name: string): Queue<T> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.redis });
      this.queues.set(name, queue);
    }
    return queue as Queue<T>;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
