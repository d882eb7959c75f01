import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { WorkerConfig } from '#libs/config';
import { attemptKey, createRedis, JobIds, QueueNames, RedisKeys, type DispatchPayload, type WorkerDescriptor, type WorkerEvent } from '#libs/queue';
import { startWorker, type WorkerAgent } from '../../apps/worker/src/worker-agent.js';
import { dispatchPayload } from '../support/dispatch-payload.js';
import { keptReports } from '../support/outbox-on-disk.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(60_000);

/**
 * The worker's outbox on the real Redis and Docker: a report stays on disk
 * until the scheduler has recorded it (its events job completed), is added
 * again when Redis loses it, retried when its recording failed for good, and
 * sent again by a restarted worker.
 */
const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: Redis;
let events: Queue<WorkerEvent>;
let workerId: string;
let stateDir: string;
let agent: WorkerAgent | undefined;
let job: DispatchPayload;

const config = (): WorkerConfig => ({
  redisUrl: testEnv().redisUrl, workerId, pool: 'test-pool', labels: {}, vcpus: 2, memoryMiB: 1024, gpus: { mode: 'none' },
  networkMode: 'none', dockerSocket: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock', heartbeatMs: 200,
  maxLogBytes: 64 * 1024, maxConcurrentJobs: 2, stopGraceSeconds: 1, stateDir, logLevel: 'silent',
});

const kept = () => keptReports(path.join(stateDir, 'outbox'));
const ids = () => [JobIds.event(job.jobId, 1, 'running'), JobIds.event(job.jobId, 1, 'exited')];

async function descriptor(): Promise<WorkerDescriptor | null> {
  const raw = await redis.get(RedisKeys.worker(workerId));
  return raw === null ? null : (JSON.parse(raw) as WorkerDescriptor);
}

/** A stand-in for the scheduler's recorder: completes every report, or fails it for good while `failing`. */
function recorder(state: { failing: boolean }): { close(): Promise<void> } {
  const connection = createRedis(testEnv().redisUrl, 'outbox-test-recorder');
  const worker = new Worker<WorkerEvent>(QueueNames.events, async () => {
    if (state.failing) throw new UnrecoverableError('Postgres is down');
  }, { connection });
  return { close: async () => { await worker.close(); await connection.quit(); } };
}

beforeAll(() => {
  redis = createRedis(testEnv().redisUrl, 'outbox-test');
  events = new Queue<WorkerEvent>(QueueNames.events, { connection: redis });
});

afterAll(async () => {
  await events.close();
  await redis.quit();
});

beforeEach(() => {
  workerId = `outbox-${randomUUID().slice(0, 8)}`;
  stateDir = mkdtempSync(path.join(tmpdir(), 'gpubatch-outbox-'));
  agent = undefined;
  job = dispatchPayload({ command: ['sh', '-c', 'echo hi'] });
});

afterEach(async () => {
  await agent?.stop();
  for (const id of ids()) await events.remove(id);
  await new Queue(QueueNames.dispatch(workerId), { connection: redis }).obliterate({ force: true });
  await new Queue(QueueNames.control(workerId), { connection: redis }).obliterate({ force: true });
  await redis.del(RedisKeys.worker(workerId));
  rmSync(stateDir, { recursive: true, force: true });
});

describe('the worker outbox', () => {
  it('keeps each report on disk until it is recorded, adds it again when Redis loses it, and a restart sends it again', async () => {
    agent = await startWorker(config(), logger);
    await new Queue(QueueNames.dispatch(workerId), { connection: redis }).add('attempt', job, { jobId: JobIds.dispatch(job.jobId, 1) });
    const [runningId, exitedId] = ids();
    await waitFor('the exit report on the events queue', () => events.getJob(exitedId));

    // Nobody records them: both stay on disk, whole and in order, past a few outbox passes.
    await sleep(2500);
    const onDisk = kept();
    expect(onDisk.map((r) => r.id)).toEqual([runningId, exitedId]);
    const stored = onDisk[1];
    expect(stored).toMatchObject({ id: exitedId, event: { type: 'attempt-exited', jobId: job.jobId, attempt: 1, end: { kind: 'exited', exitCode: 0 } } });
    expect((await descriptor())?.attempts).toEqual([attemptKey(job.jobId, 1)]);

    // Redis loses everything: the worker adds both again, RUNNING first.
    await redis.flushdb();
    const [running, exited] = await waitFor('both reports added again', async () => {
      const both = await Promise.all(ids().map((id) => events.getJob(id)));
      return both.every(Boolean) ? both : undefined;
    }, 10_000);
    expect(running!.timestamp).toBeLessThanOrEqual(exited!.timestamp);
    expect(exited!.data).toEqual(stored.event);

    // Drained and gone: the reports stay on disk; Redis loses them again; the restarted worker sends them again.
    await agent.stop();
    expect(kept()).toHaveLength(2);
    await redis.flushdb();
    agent = await startWorker(config(), logger);
    await waitFor('the reports sent again by the restarted worker', async () => (await Promise.all(ids().map((id) => events.getJob(id)))).every(Boolean), 10_000);
    expect((await descriptor())?.attempts).toEqual([attemptKey(job.jobId, 1)]);

    // Recorded: the files go, and the attempt leaves the heartbeat.
    const scheduler = recorder({ failing: false });
    try {
      await waitFor('the outbox emptied', () => kept().length === 0, 10_000);
      await waitFor('the attempt gone from the heartbeat', async () => (await descriptor())?.attempts?.length === 0);
    } finally {
      await scheduler.close();
    }
  });

  it('retries a report whose recording failed for good, and forgets it once recorded', async () => {
    const state = { failing: true };
    const scheduler = recorder(state);
    try {
      agent = await startWorker(config(), logger);
      await new Queue(QueueNames.dispatch(workerId), { connection: redis }).add('attempt', job, { jobId: JobIds.dispatch(job.jobId, 1) });
      const [, exitedId] = ids();
      await waitFor('the exit report failed', async () => (await events.getJobState(exitedId)) === 'failed');
      expect(kept()).toHaveLength(2);

      state.failing = false;
      await waitFor('the exit report retried and recorded', async () => (await events.getJobState(exitedId)) === 'completed', 10_000);
      await waitFor('the outbox emptied', () => kept().length === 0, 10_000);
    } finally {
      await scheduler.close();
    }
  });
});
