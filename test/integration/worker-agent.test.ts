import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { Queue, Worker, type Job } from 'bullmq';
import Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { WorkerConfig } from '#libs/config';
import {
  attemptKey,
  createRedis,
  JobIds,
  QueueNames,
  RedisKeys,
  type AttemptExitedEvent,
  type AttemptRunningEvent,
  type ControlCommand,
  type DispatchPayload,
  type WorkerDescriptor,
  type WorkerEvent,
} from '#libs/queue';
import { CapacityError } from '../../apps/worker/src/capacity/capacity.js';
import { containerName } from '../../apps/worker/src/runner/container-spec.js';
import { startWorker, type WorkerAgent } from '../../apps/worker/src/worker-agent.js';
import { dispatchPayload } from '../support/dispatch-payload.js';
import { testEnv } from '../support/test-env.js';

jest.setTimeout(30_000);

const logger = pino({ level: 'silent' });
const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
const GPUS = [
  { model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920, uuid: 'GPU-aaaa' },
  { model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920, uuid: 'GPU-bbbb' },
  { model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920, uuid: 'GPU-cccc' },
];

/** Polls until `probe` returns something other than undefined/null/false, or fails naming what it waited for. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The daemon's container events for `name` from `since` (epoch seconds) until now. */
async function dockerEvents(name: string, since: number): Promise<{ Action?: string; status?: string }[]> {
  const stream = (await docker.getEvents({
    since,
    until: Math.ceil(Date.now() / 1000) + 1,
    filters: { type: ['container'], container: [name] },
  })) as NodeJS.ReadableStream;
  let raw = '';
  for await (const chunk of stream) raw += chunk.toString();
  return raw.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
}

describe('worker agent over real Redis and Docker', () => {
  let redis: Redis;
  let events: Queue<WorkerEvent>;
  let workerId: string;
  let dispatch: Queue<DispatchPayload>;
  let control: Queue<ControlCommand>;
  let agent: WorkerAgent | undefined;
  const eventIds: string[] = [];

  const config = (over: Partial<WorkerConfig> = {}): WorkerConfig => ({
    redisUrl: testEnv().redisUrl,
    workerId,
    pool: 'test-pool',
    labels: { zone: 'a' },
    vcpus: 4,
    memoryMiB: 4096,
    gpus: { mode: 'list', gpus: GPUS },
    networkMode: 'none',
    dockerSocket: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock',
    heartbeatMs: 100,
    maxLogBytes: 64 * 1024,
    maxConcurrentJobs: 4,
    stopGraceSeconds: 1,
    stateDir: path.join(tmpdir(), `gpubatch-test-${workerId}`),
    logLevel: 'silent',
    ...over,
  });

  const payload = (over: Partial<DispatchPayload> = {}) => dispatchPayload({ jobName: 'agent-test', command: ['sh', '-c', 'echo hi'], ...over });

  async function send(job: DispatchPayload): Promise<void> {
    eventIds.push(JobIds.event(job.jobId, job.attempt, 'running'), JobIds.event(job.jobId, job.attempt, 'exited'));
    await dispatch.add('attempt', job, { jobId: JobIds.dispatch(job.jobId, job.attempt) });
  }

  /** Sends a terminate the way the API does; resolves once the worker has taken it. */
  async function terminate(job: DispatchPayload, reason: string): Promise<void> {
    const command: ControlCommand = { type: 'terminate', jobId: job.jobId, attempt: job.attempt, reason };
    const id = JobIds.terminate(job.jobId, job.attempt);
    await control.add(command.type, command, { jobId: id });
    await waitFor(`the worker to take the terminate of ${job.jobId}`, async () => (await control.getJobState(id)) === 'completed');
  }

  async function reported<E extends WorkerEvent>(job: DispatchPayload, kind: 'running' | 'exited'): Promise<E> {
    const found = await waitFor(`${kind} report of ${job.jobId}`, () => events.getJob(JobIds.event(job.jobId, job.attempt, kind)));
    return found.data as E;
  }

  async function descriptor(): Promise<WorkerDescriptor | null> {
    const raw = await redis.get(RedisKeys.worker(workerId));
    return raw === null ? null : (JSON.parse(raw) as WorkerDescriptor);
  }

  async function workerChangedEvents(): Promise<Job<WorkerEvent>[]> {
    const jobs = await events.getJobs(['waiting', 'prioritized', 'delayed']);
    return jobs.filter((j) => j?.data?.type === 'worker-changed' && j.data.workerId === workerId);
  }

  beforeAll(() => {
    redis = createRedis(testEnv().redisUrl, 'worker-agent-test');
    events = new Queue<WorkerEvent>(QueueNames.events, { connection: redis });
  });

  afterAll(async () => {
    await events.close();
    await redis.quit();
  });

  beforeEach(() => {
    workerId = `test-${randomUUID()}`;
    dispatch = new Queue<DispatchPayload>(QueueNames.dispatch(workerId), { connection: redis });
    control = new Queue<ControlCommand>(QueueNames.control(workerId), { connection: redis });
    agent = undefined;
    eventIds.length = 0;
  });

  afterEach(async () => {
    await agent?.stop();
    for (const id of eventIds) await events.remove(id);
    for (const job of await workerChangedEvents()) await job.remove();
    await dispatch.obliterate({ force: true });
    await dispatch.close();
    await control.obliterate({ force: true });
    await control.close();
    await redis.multi().del(RedisKeys.worker(workerId)).srem(RedisKeys.drainRequests, workerId).exec();
    rmSync(config().stateDir, { recursive: true, force: true });
  });

  it('joins with its declared capacity, keeps its heartbeat fresh, and leaves on stop()', async () => {
    agent = await startWorker(config(), logger);
    expect(agent.descriptor).toMatchObject({ id: workerId, pool: 'test-pool', vcpus: 4, memoryMiB: 4096, state: 'ACTIVE' });

    const first = await waitFor('the descriptor in the workers hash', descriptor);
    expect(first).toMatchObject({ id: workerId, pool: 'test-pool', vcpus: 4, memoryMiB: 4096, state: 'ACTIVE', labels: { zone: 'a' } });
    expect(first.gpus).toEqual([
      { index: 0, uuid: 'GPU-aaaa', model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920, nvlinkGroup: null },
      { index: 1, uuid: 'GPU-bbbb', model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920, nvlinkGroup: null },
      { index: 2, uuid: 'GPU-cccc', model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920, nvlinkGroup: null },
    ]);
    await waitFor('a later heartbeat', async () => ((await descriptor())!.heartbeatAt > first.heartbeatAt ? true : undefined));
    expect((await workerChangedEvents()).length).toBe(1);

    await agent.stop();
    expect(await descriptor()).toBeNull();
    expect((await workerChangedEvents()).length).toBe(2);
    await expect(agent.left).resolves.toBeUndefined();
  });

  it('runs a dispatched attempt and reports running then exited on the events queue', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ gpuDevices: [0, 2], resources: { vcpus: 1, memoryMiB: 64, gpus: 2 }, command: ['sh', '-c', 'echo "gpus=$NVIDIA_VISIBLE_DEVICES"; echo bad >&2; exit 3'] });
    await send(job);

    const running = await reported<AttemptRunningEvent>(job, 'running');
    const exited = await reported<AttemptExitedEvent>(job, 'exited');
    expect(running).toMatchObject({ type: 'attempt-running', jobId: job.jobId, attempt: 1, workerId });
    expect(exited).toMatchObject({
      type: 'attempt-exited',
      jobId: job.jobId,
      attempt: 1,
      workerId,
      containerId: running.containerId,
      startedAt: running.startedAt,
      end: { kind: 'exited', exitCode: 3, oomKilled: false },
      logsTruncated: false,
    });
    expect(Date.parse(exited.stoppedAt)).toBeGreaterThanOrEqual(Date.parse(exited.startedAt!));
    // Docker copies stdout and stderr concurrently: only the order within a stream is certain.
    expect(exited.logs.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual(['gpus=0,2']);
    expect(exited.logs.filter((l) => l.stream === 'stderr').map((l) => l.text)).toEqual(['bad']);
    await waitFor('the dispatch job to complete', async () => (await dispatch.getJobState(JobIds.dispatch(job.jobId, 1))) === 'completed');
  });

  it('reports a pull failure for a dispatched attempt whose image exists nowhere', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ image: 'gpubatch-missing-image:nope' });
    await send(job);
    const exited = await reported<AttemptExitedEvent>(job, 'exited');
    expect(exited).toMatchObject({ containerId: null, startedAt: null, end: { kind: 'pull-failed' } });
    expect(await events.getJob(JobIds.event(job.jobId, 1, 'running'))).toBeUndefined();
  });

  it('runs attempts side by side up to its concurrency', async () => {
    agent = await startWorker(config({ maxConcurrentJobs: 2 }), logger);
    const jobs = [payload({ command: ['sleep', '1'] }), payload({ command: ['sleep', '1'] })];
    for (const job of jobs) await send(job);
    const [a, b] = await Promise.all(jobs.map((job) => reported<AttemptExitedEvent>(job, 'exited')));
    // Each started before the other stopped.
    expect(Date.parse(a.startedAt!)).toBeLessThan(Date.parse(b.stoppedAt));
    expect(Date.parse(b.startedAt!)).toBeLessThan(Date.parse(a.stoppedAt));
  });

  it('drains on stop(): shows DRAINING, takes nothing new, lets the running attempt finish and report, then leaves', async () => {
    agent = await startWorker(config(), logger);
    const long = payload({ command: ['sh', '-c', 'sleep 1; echo finished'] });
    await send(long);
    await reported(long, 'running');

    const stopped = agent.stop();
    await waitFor('DRAINING in the heartbeat', async () => (await descriptor())?.state === 'DRAINING');
    const late = payload();
    await send(late);
    expect(await events.getJob(JobIds.event(long.jobId, 1, 'exited'))).toBeUndefined();

    await stopped;
    const exited = (await events.getJob(JobIds.event(long.jobId, 1, 'exited')))?.data as AttemptExitedEvent;
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(exited.logs.map((l) => l.text)).toEqual(['finished']);
    expect(await descriptor()).toBeNull();
    expect(await dispatch.getJobState(JobIds.dispatch(late.jobId, 1))).toBe('waiting');
  });

  it('drains and leaves by itself when an operator asks (drain request set)', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ command: ['sh', '-c', 'sleep 0.5'] });
    await send(job);
    await reported(job, 'running');

    await redis.sadd(RedisKeys.drainRequests, workerId);
    await waitFor('DRAINING in the heartbeat', async () => (await descriptor())?.state === 'DRAINING');
    await agent.left;
    expect((await reported<AttemptExitedEvent>(job, 'exited')).end).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(await descriptor()).toBeNull();
    // Fulfilled: a worker restarted under this id joins normally.
    expect(await redis.sismember(RedisKeys.drainRequests, workerId)).toBe(0);
  });

  it('stops an attempt that outlives its timeout and reports it ended timeout', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ timeoutSeconds: 1, command: ['sh', '-c', 'trap "echo got TERM; exit 7" TERM; sleep 30 & wait'] });
    await send(job);
    const exited = await reported<AttemptExitedEvent>(job, 'exited');
    expect(exited.end).toEqual({ kind: 'timeout', timeoutSeconds: 1, exitCode: 7 });
    expect(exited.logs.map((l) => l.text)).toEqual(['got TERM']);
    const ranFor = Date.parse(exited.stoppedAt) - Date.parse(exited.startedAt!);
    expect(ranFor).toBeGreaterThanOrEqual(950);
    // Stopped by the timeout, long before the 30 s sleep would end (a wide bound: CI machines are slow and shared).
    expect(ranFor).toBeLessThan(20_000);
  });

  it('reports exited for an attempt that ends before its timeout', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ timeoutSeconds: 30, command: ['sh', '-c', 'echo quick'] });
    await send(job);
    const exited = await reported<AttemptExitedEvent>(job, 'exited');
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(exited.logs.map((l) => l.text)).toEqual(['quick']);
  });

  it('terminates a running attempt on a command from its control queue', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ command: ['sleep', '30'] });
    await send(job);
    const running = await reported<AttemptRunningEvent>(job, 'running');

    const asked = Date.now();
    await terminate(job, 'Terminated by operator: wrong input');
    const exited = await reported<AttemptExitedEvent>(job, 'exited');
    // Docker's init passes SIGTERM on to `sleep`, which dies of it (128 + 15).
    expect(exited).toMatchObject({
      containerId: running.containerId,
      startedAt: running.startedAt,
      end: { kind: 'terminated', reason: 'Terminated by operator: wrong input', exitCode: 143 },
    });
    // Well before the 30 s sleep ends (the exit code already says SIGTERM did it).
    expect(Date.now() - asked).toBeLessThan(20_000);
    expect(Date.parse(exited.stoppedAt)).toBeGreaterThanOrEqual(asked - 50);
    await waitFor('the dispatch job to complete', async () => (await dispatch.getJobState(JobIds.dispatch(job.jobId, 1))) === 'completed');
    await expect(docker.getContainer(running.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('runs the job under Docker init: a shell as the job is stopped by SIGTERM, without waiting out the grace', async () => {
    agent = await startWorker(config({ stopGraceSeconds: 30 }), logger);
    const job = payload({ command: ['sh', '-c', 'sleep 60'] });
    await send(job);
    await reported<AttemptRunningEvent>(job, 'running');

    await terminate(job, 'stop the shell');
    const exited = await waitFor('the exit report', () => events.getJob(JobIds.event(job.jobId, 1, 'exited')), 25_000);
    const end = (exited.data as AttemptExitedEvent).end;
    // Killed by SIGTERM (128 + 15), not by the SIGKILL 30 s later (137).
    expect(end).toEqual({ kind: 'terminated', reason: 'stop the shell', exitCode: 143 });
    const ranFor = Date.parse((exited.data as AttemptExitedEvent).stoppedAt) - Date.parse((exited.data as AttemptExitedEvent).startedAt!);
    expect(ranFor).toBeLessThan(20_000);
  });

  it('lists the attempts it holds in its heartbeat, an exit until the scheduler has recorded it', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ command: ['sh', '-c', 'sleep 1'] });
    const key = attemptKey(job.jobId, 1);
    await send(job);
    await reported(job, 'running');
    await waitFor('the attempt in the heartbeat', async () => (await descriptor())?.attempts?.includes(key));
    await reported(job, 'exited');
    // Nobody consumes the events queue here: the exit is not recorded, so the worker still holds the attempt.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await descriptor())?.attempts).toContain(key);

    const connection = createRedis(testEnv().redisUrl, 'agent-test-recorder');
    const recorder = new Worker<WorkerEvent>(QueueNames.events, async () => undefined, { connection });
    try {
      await waitFor('the attempt gone from the heartbeat', async () => {
        const listed = (await descriptor())?.attempts;
        return listed !== undefined && !listed.includes(key);
      });
    } finally {
      await recorder.close();
      await connection.quit();
    }
  });

  it('ends an attempt whose terminate arrived before its claim without creating a container', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ command: ['sleep', '30'] });
    const since = Math.floor(Date.now() / 1000) - 1;
    await terminate(job, 'Terminated before it started');
    await send(job);

    const exited = await reported<AttemptExitedEvent>(job, 'exited');
    expect(exited).toMatchObject({
      containerId: null,
      startedAt: null,
      end: { kind: 'terminated', reason: 'Terminated before it started', exitCode: null },
      logs: [],
    });
    expect(await events.getJob(JobIds.event(job.jobId, 1, 'running'))).toBeUndefined();
    const name = containerName(job.jobId, 1);
    await expect(docker.getContainer(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // Not even created and removed again: the daemon saw no event for that name.
    const seen = await dockerEvents(name, since);
    expect(seen).toEqual([]);
  });

  it('still takes terminate commands while it drains', async () => {
    agent = await startWorker(config(), logger);
    const job = payload({ command: ['sleep', '30'] });
    await send(job);
    await reported(job, 'running');

    const stopped = agent.stop();
    await waitFor('DRAINING in the heartbeat', async () => (await descriptor())?.state === 'DRAINING');
    await terminate(job, 'drain faster');
    await stopped;
    expect((await reported<AttemptExitedEvent>(job, 'exited')).end).toEqual({ kind: 'terminated', reason: 'drain faster', exitCode: 143 });
    expect(await descriptor()).toBeNull();
  });

  it('refuses to start on nonsense capacity, and never joins', async () => {
    await expect(startWorker(config({ vcpus: 0 }), logger)).rejects.toThrow(CapacityError);
    const duplicate = { mode: 'list' as const, gpus: [GPUS[0], { ...GPUS[1], uuid: GPUS[0].uuid }] };
    await expect(startWorker(config({ gpus: duplicate }), logger)).rejects.toThrow(/GPU uuid GPU-aaaa is declared twice/);
    expect(await descriptor()).toBeNull();
  });
});
