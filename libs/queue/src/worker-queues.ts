import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { eventJobId, JobIds, QueueNames } from './names.js';
import type { ControlCommand, DispatchPayload, InterruptCommand, WorkerEvent } from './payloads.js';

// Completed dispatch entries stay a day so that re-adding an attempt after a
// leader change is a no-op instead of a second run.
const KEEP_COMPLETED_SECONDS = 24 * 3600;

/** BullMQ producers on one shared connection, opened lazily per queue name. */
export class QueueProducers {
  private readonly queues = new Map<string, Queue>();

  constructor(protected readonly redis: Redis) {}

  queue<T>(name: string): Queue<T> {
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

/**
 * The producer side of the queues around workers, shared by the scheduler
 * and the API: dispatch attempts, withdraw one no worker claimed, send a
 * worker a command, report an event on a worker's behalf.
 */
export class WorkerQueues extends QueueProducers {
  async dispatch(workerId: string, payloads: DispatchPayload[]): Promise<void> {
    await this.dispatchAll(new Map([[workerId, payloads]]));
  }

  /**
   * Adds every worker's attempts at once: each worker's entries are one
   * MULTI on the shared connection, and none waits for another's reply (the
   * adds go out pipelined, not one round trip per worker in turn). One
   * worker's failure does not keep the others' entries back; rejects with
   * the first error once every add has been answered.
   */
  async dispatchAll(byWorker: ReadonlyMap<string, readonly DispatchPayload[]>): Promise<void> {
    const results = await Promise.allSettled([...byWorker].filter(([, payloads]) => payloads.length > 0).map(async ([workerId, payloads]) =>
      this.queue<DispatchPayload>(QueueNames.dispatch(workerId)).addBulk(payloads.map((p) => ({
        name: 'attempt',
        data: p,
        opts: {
          jobId: JobIds.dispatch(p.jobId, p.attempt),
          removeOnComplete: { age: KEEP_COMPLETED_SECONDS },
          removeOnFail: { age: KEEP_COMPLETED_SECONDS },
        },
      })))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Removes an attempt no worker has claimed yet; false when it is gone or claimed. */
  async withdraw(workerId: string, jobId: string, attempt: number): Promise<boolean> {
    const job = await this.queue<DispatchPayload>(QueueNames.dispatch(workerId)).getJob(JobIds.dispatch(jobId, attempt));
    if (!job || !(await job.isWaiting())) return false;
    // Claimed in the meantime: the worker will see the terminate command instead.
    return job.remove().then(() => true, () => false);
  }

  /**
   * Where an attempt's dispatch entry stands: its BullMQ state, and the token
   * of the lock its claimer holds (null when none does). Undefined when gone.
   */
  async dispatchEntry(workerId: string, jobId: string, attempt: number): Promise<{ state: string; lockToken: string | null } | undefined> {
    const queue = this.queue<DispatchPayload>(QueueNames.dispatch(workerId));
    const entry = await queue.getJob(JobIds.dispatch(jobId, attempt));
    if (!entry) return undefined;
    const state = await entry.getState();
    return { state, lockToken: state === 'active' ? await this.redis.get(`${queue.toKey(entry.id!)}:lock`) : null };
  }

  /** A spot interruption for the whole worker, on its control queue: once per deadline. */
  async interrupt(workerId: string, command: InterruptCommand): Promise<void> {
    await this.queue<InterruptCommand>(QueueNames.control(workerId)).add(command.type, command, {
      jobId: `interrupt.${Date.parse(command.deadline)}`, removeOnComplete: true, removeOnFail: true,
    });
  }

  async command(workerId: string, command: ControlCommand): Promise<void> {
    await this.queue<ControlCommand>(QueueNames.control(workerId)).add(command.type, command, {
      jobId: command.type === 'terminate' ? JobIds.terminate(command.jobId, command.attempt)
        : command.type === 'preempt' ? JobIds.preempt(command.jobId, command.attempt)
        : JobIds.checkpointAck(command.jobId, command.attempt),
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  async report(event: WorkerEvent): Promise<void> {
    await this.queue<WorkerEvent>(QueueNames.events).add(event.type, event, { jobId: eventJobId(event), removeOnComplete: true });
  }
}
