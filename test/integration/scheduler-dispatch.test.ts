import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { applyCommands } from '#libs/db';
import { createLogger } from '#libs/log';
import { QueueNames, WorkerQueues, type DispatchPayload } from '#libs/queue';
import { DispatchSender } from '../../apps/scheduler/src/placement/dispatch-sender.js';
import { schedulerTestbed } from '../support/scheduler-testbed.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

describe('dispatch of committed placements (real Postgres and Redis)', () => {
  const bed = schedulerTestbed();
  const { start, submit } = bed;

  /** Each worker's dispatch entries, as (job, attempt) keys. */
  async function entries(workers: string[]): Promise<Map<string, string[]>> {
    return new Map(await Promise.all(workers.map(async (w) => [w, (await bed.worker.dispatched(w)).map((d) => `${d.jobId}#${d.attempt}`)] as const)));
  }

  it('lands one pass\'s placements on many workers, each attempt on its own worker\'s queue, once', async () => {
    const workers = Array.from({ length: 12 }, (_, i) => `w-many-${i}`);
    for (const id of workers) await bed.worker.join({ id, vcpus: 1 });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    const ids: string[] = [];
    for (let i = 0; i < workers.length; i++) ids.push(await submit(f.queue, f.definition));
    await start();
    const placed: { job_id: string; worker_id: string }[] = await waitFor('every job placed and dispatched', async () => {
      const rows: { job_id: string; worker_id: string }[] = await bed.db.query(`SELECT job_id, worker_id FROM job_attempts WHERE job_id = ANY($1)`, [ids]);
      if (rows.length < ids.length) return undefined;
      const total = [...(await entries(workers)).values()].flat().length;
      return total === ids.length ? rows : undefined;
    });
    const byWorker = await entries(workers);
    for (const w of workers) {
      expect(byWorker.get(w)).toEqual(placed.filter((r) => r.worker_id === w).map((r) => `${r.job_id}#1`));
      expect(byWorker.get(w)).toHaveLength(1); // one vCPU each: never two attempts on one worker
    }
    // Each entry is complete: the container policy of the worker's pool came with it.
    const [payload] = await bed.worker.dispatched(workers[0]);
    expect(payload).toMatchObject({ attempt: 1, resources: { vcpus: 1, memoryMiB: 64, gpus: 0 }, container: expect.any(Object) });
  });

  it('re-sends every attempt committed before the scheduler died, exactly once, across leader changes', async () => {
    const workers = ['w-crash-0', 'w-crash-1', 'w-crash-2'];
    for (const id of workers) await bed.worker.join({ id, vcpus: 2 });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    // A leader committed these placements and died before their dispatch: Postgres has them, Redis does not.
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await submit(f.queue, f.definition));
    const applied = await applyCommands(bed.db, ids.map((jobId, i) => ({
      jobId, command: { type: 'place' as const, workerId: workers[i % 3], gpuDevices: [] }, placement: { pool: 'default', gpuModel: null },
    })));
    expect(applied.every((a) => a.transition.outcome === 'applied')).toBe(true);
    expect([...(await entries(workers)).values()].flat()).toEqual([]);

    await start();
    const expected = new Map(workers.map((w, i) => [w, ids.filter((_, j) => j % 3 === i).map((id) => `${id}#1`).sort()]));
    await waitFor('the committed attempts re-sent', async () => {
      const now = await entries(workers);
      return workers.every((w) => now.get(w)!.length === expected.get(w)!.length);
    });
    expect(await entries(workers)).toEqual(expected);
    const [resent] = await bed.worker.dispatched(workers[0]);
    expect(resent).toMatchObject({ attempt: 1, image: expect.any(String), container: expect.any(Object) });

    // One worker claims its attempts; then the leader changes again (a second rebuild re-adds every STARTING attempt).
    await bed.worker.claim(workers[0]);
    await bed.stopSchedulers();
    await start();
    // Its first pass follows its rebuild: a job that finds every worker full is told so.
    const late = await submit(f.queue, f.definition);
    await waitFor('the new leader\'s first pass', async () => (await bed.job(late)).statusReason?.startsWith('RESOURCE'));
    // Still one entry per attempt: a re-add of an entry Redis has (waiting, claimed or done) is a no-op.
    expect(await entries(workers)).toEqual(expected);
    const jobs = await Promise.all(ids.map((id) => bed.job(id)));
    expect(jobs.map((j) => j.attempts.length)).toEqual(ids.map(() => 1));
  });

  it('sends passes in order behind the pass, and one worker\'s failed add keeps neither the others nor later passes back', async () => {
    const redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: null });
    const queues = new WorkerQueues(redis);
    const sender = new DispatchSender(queues, createLogger('dispatch-sender-test', 'silent'));
    const payload = (jobId: string): DispatchPayload => ({
      jobId, jobName: jobId, queue: 'q', attempt: 1, image: 'img', command: [], environment: {},
      resources: { vcpus: 1, memoryMiB: 64, gpus: 0 }, gpuDevices: [], timeoutSeconds: null, restartCount: 0,
    });
    const seen: string[] = [];
    let consumer: Worker | undefined;
    const connection = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: null });
    try {
      // A queue name BullMQ refuses: that worker's add fails, as a Redis error would.
      sender.send(new Map([['bad:worker', [payload('lost')]], ['w-order', [payload('p1-a'), payload('p1-b')]]]));
      sender.send(new Map([['w-order', [payload('p2-a')]], ['w-other', [payload('p2-b')]]]));
      sender.send(new Map([['w-order', [payload('p3-a')]]]));
      expect(sender.inFlight).toBe(3);
      await sender.settled();
      expect(sender.inFlight).toBe(0);
      expect(sender.takeSends().map((s) => s.attempts)).toEqual([3, 2, 1]);
      consumer = new Worker<DispatchPayload>(QueueNames.dispatch('w-order'), async (job) => {
        seen.push(job.data.jobId);
      }, { connection, concurrency: 1 });
      await waitFor('w-order drained', async () => seen.length === 4);
      expect(seen).toEqual(['p1-a', 'p1-b', 'p2-a', 'p3-a']);
      const other = new Queue(QueueNames.dispatch('w-other'), { connection: redis });
      expect((await other.getJobs(['waiting'])).map((j) => j.data.jobId)).toEqual(['p2-b']);
      await other.close();
    } finally {
      await consumer?.close();
      connection.disconnect();
      await queues.close();
      redis.disconnect();
    }
  });
});
