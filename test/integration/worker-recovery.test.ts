import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import Docker from 'dockerode';
import type { Redis } from 'ioredis';
import {
  attemptKey,
  createRedis,
  JobIds,
  QueueNames,
  RedisKeys,
  type AttemptExitedEvent,
  type AttemptRunningEvent,
  type DispatchPayload,
  type WorkerDescriptor,
  type WorkerEvent,
} from '#libs/queue';
import { LocalCluster, type ClusterProcess } from '../../scripts/lib/local-cluster.js';
import { containerName } from '../../apps/worker/src/runner/container-spec.js';
import { dispatchPayload } from '../support/dispatch-payload.js';
import { keptReports } from '../support/outbox-on-disk.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(90_000);

/**
 * A worker killed with SIGKILL (no drain) and started again under the same
 * WORKER_ID, as built processes: it adopts the containers its first process
 * left, reports their exits once with their real times, lists them in its
 * heartbeat while it holds them, and never starts a second container.
 */
const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: Redis;
let events: Queue<WorkerEvent>;
let dispatch: Queue<DispatchPayload>;
let recorderConnection: Redis;
let recorder: Worker<WorkerEvent>;
let cluster: LocalCluster;
let workerId: string;
let stateDir: string;
let recorded: WorkerEvent[];
const sent: DispatchPayload[] = [];

async function descriptor(): Promise<WorkerDescriptor | null> {
  const raw = await redis.get(RedisKeys.worker(workerId));
  return raw === null ? null : (JSON.parse(raw) as WorkerDescriptor);
}

/** Starts the built worker and waits until this process (not an earlier one) has joined. */
async function startWorkerProcess(name: string): Promise<ClusterProcess> {
  const since = Date.now();
  const proc = cluster.start('worker', {
    WORKER_ID: workerId, WORKER_VCPUS: '4', WORKER_MEMORY_MIB: '4096', WORKER_GPUS: 'none', JOB_NETWORK_MODE: 'none',
    DOCKER_SOCKET: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock', WORKER_HEARTBEAT_MS: '200', JOB_STOP_GRACE_SECONDS: '1',
    WORKER_STATE_DIR: stateDir,
  }, name);
  await waitFor(`${name} to join`, async () => {
    if (proc.child.exitCode !== null) throw new Error(`${name} exited:\n${proc.output.join('')}`);
    return ((await descriptor())?.startedAt ?? 0) >= since;
  }, 30_000);
  return proc;
}

async function kill(proc: ClusterProcess): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

async function send(job: DispatchPayload): Promise<void> {
  sent.push(job);
  await dispatch.add('attempt', job, { jobId: JobIds.dispatch(job.jobId, job.attempt) });
}

function reports<E extends WorkerEvent>(job: DispatchPayload, type: E['type']): E[] {
  return recorded.filter((e) => e.type === type && 'jobId' in e && e.jobId === job.jobId) as E[];
}

async function reportOf<E extends WorkerEvent>(job: DispatchPayload, type: E['type'], timeoutMs = 30_000): Promise<E> {
  return waitFor(`${type} of ${job.jobId}`, () => reports<E>(job, type)[0], timeoutMs);
}

/** The daemon's events for one container name since `since` (epoch s). */
async function dockerEvents(name: string, since: number): Promise<{ Action?: string; timeNano?: number }[]> {
  const stream = (await docker.getEvents({
    since, until: Math.ceil(Date.now() / 1000) + 1, filters: { type: ['container'], container: [name] },
  })) as NodeJS.ReadableStream;
  let raw = '';
  for await (const chunk of stream) raw += chunk.toString();
  return raw.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

beforeAll(() => {
  redis = createRedis(testEnv().redisUrl, 'worker-recovery-test');
  events = new Queue<WorkerEvent>(QueueNames.events, { connection: redis });
});

afterAll(async () => {
  await events.close();
  await redis.quit();
});

beforeEach(async () => {
  workerId = `recovery-${randomUUID().slice(0, 8)}`;
  stateDir = mkdtempSync(path.join(tmpdir(), 'gpubatch-recovery-'));
  dispatch = new Queue<DispatchPayload>(QueueNames.dispatch(workerId), { connection: redis });
  cluster = new LocalCluster({ REDIS_URL: testEnv().redisUrl, LOG_LEVEL: 'warn' });
  recorded = [];
  sent.length = 0;
  // Stands in for the scheduler: records (completes) every report.
  recorderConnection = createRedis(testEnv().redisUrl, 'worker-recovery-recorder');
  recorder = new Worker<WorkerEvent>(QueueNames.events, async (job) => {
    recorded.push(job.data);
  }, { connection: recorderConnection });
  await recorder.waitUntilReady();
});

afterEach(async () => {
  await cluster.stop(20_000);
  await recorder.close();
  await recorderConnection.quit();
  const left = await docker.listContainers({ all: true, filters: { label: [`gpubatch.worker-id=${workerId}`] } });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const job of sent) {
    for (const kind of ['running', 'exited']) await events.remove(JobIds.event(job.jobId, job.attempt, kind));
  }
  await dispatch.obliterate({ force: true });
  await dispatch.close();
  await new Queue(QueueNames.control(workerId), { connection: redis }).obliterate({ force: true });
  await redis.multi().del(RedisKeys.worker(workerId)).srem(RedisKeys.drainRequests, workerId).exec();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('a worker killed and restarted under the same id', () => {
  it('adopts its running container: one container, its exit reported once with real times, held in the heartbeat while it runs', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const first = await startWorkerProcess('worker-1');
    // Long enough to outlive the kill, the pause and a slow restart on a loaded machine.
    const job = dispatchPayload({ command: ['sh', '-c', 'echo begin; sleep 30; echo end'], timeoutSeconds: 120 });
    const key = attemptKey(job.jobId, 1);
    await send(job);
    const running = await reportOf<AttemptRunningEvent>(job, 'attempt-running');
    await waitFor('the attempt in the first heartbeat', async () => (await descriptor())?.attempts?.includes(key));

    await kill(first);
    await sleep(2500);
    const container = docker.getContainer(running.containerId);
    expect((await container.inspect()).State.Running).toBe(true);

    await startWorkerProcess('worker-2');
    // Listed by the new process from its first heartbeat on, before the container ends.
    expect((await descriptor())?.attempts).toContain(key);
    expect((await container.inspect()).State.Running).toBe(true);
    // The dispatch of the adopted attempt claimed again (as BullMQ redelivers a stalled job): no second container.
    const again = `${JobIds.dispatch(job.jobId, 1)}.redelivered`;
    await dispatch.add('attempt', job, { jobId: again });

    const exited = await reportOf<AttemptExitedEvent>(job, 'attempt-exited', 60_000);
    expect(exited).toMatchObject({
      containerId: running.containerId, startedAt: running.startedAt, workerId, end: { kind: 'exited', exitCode: 0, oomKilled: false },
    });
    expect(exited.logs.map((l) => l.text)).toEqual(['begin', 'end']);
    await waitFor('the redelivered claim to complete', async () => (await dispatch.getJobState(again)) === 'completed');
    await waitFor('the attempt gone from the heartbeat', async () => {
      const listed = (await descriptor())?.attempts;
      return listed !== undefined && !listed.includes(key);
    });
    await waitFor('the outbox emptied', () => keptReports(path.join(stateDir, 'outbox')).length === 0);
    await expect(container.inspect()).rejects.toMatchObject({ statusCode: 404 });

    const seen = await dockerEvents(containerName(job.jobId, 1), since);
    expect(seen.filter((e) => e.Action === 'create')).toHaveLength(1);
    expect(seen.filter((e) => e.Action === 'start')).toHaveLength(1);
    // The stop time is the container's own (Docker's FinishedAt, stamped a little before its `die` event under load).
    const died = seen.find((e) => e.Action === 'die')!;
    expect(Math.abs(Date.parse(exited.stoppedAt) - died.timeNano! / 1e6)).toBeLessThan(1000);
    expect(Date.parse(exited.stoppedAt) - Date.parse(exited.startedAt!)).toBeGreaterThanOrEqual(30_000 - 50);
    expect(Date.parse(exited.stoppedAt) - Date.parse(exited.startedAt!)).toBeLessThan(30_000 + 1500);
    // Once, for all the redelivery and the outbox passes since.
    await sleep(2500);
    expect(reports(job, 'attempt-exited')).toHaveLength(1);
  }, 120_000);

  it('reports a container that exited while it was down, enforces the timeout of one still running, and removes one with malformed labels', async () => {
    const first = await startWorkerProcess('worker-1');
    const quick = dispatchPayload({ command: ['sh', '-c', 'sleep 0.5; echo bye; exit 3'] });
    const slow = dispatchPayload({ command: ['sleep', '60'], timeoutSeconds: 5 });
    await send(quick);
    await send(slow);
    const quickRunning = await reportOf<AttemptRunningEvent>(quick, 'attempt-running');
    const slowRunning = await reportOf<AttemptRunningEvent>(slow, 'attempt-running');
    await kill(first);

    const stray = await docker.createContainer({ Image: testEnv().testImage, Cmd: ['true'], Labels: { 'gpubatch.worker-id': workerId } });
    const quickContainer = docker.getContainer(quickRunning.containerId);
    const stopped = await waitFor('the quick container to exit', async () => {
      const { State } = await quickContainer.inspect();
      return State.Running ? undefined : State;
    });
    await sleep(1000);

    await startWorkerProcess('worker-2');
    const quickExited = await reportOf<AttemptExitedEvent>(quick, 'attempt-exited');
    expect(quickExited).toMatchObject({
      containerId: quickRunning.containerId,
      startedAt: quickRunning.startedAt,
      stoppedAt: new Date(stopped.FinishedAt).toISOString(),
      end: { kind: 'exited', exitCode: 3, oomKilled: false },
    });
    expect(quickExited.logs.map((l) => l.text)).toEqual(['bye']);
    await waitFor('the exited container removed', () => quickContainer.inspect().then(() => false, (e) => e.statusCode === 404));
    await waitFor('the stray container removed', () => stray.inspect().then(() => false, (e) => e.statusCode === 404));

    const slowExited = await reportOf<AttemptExitedEvent>(slow, 'attempt-exited');
    expect(slowExited.end).toEqual({ kind: 'timeout', timeoutSeconds: 5, exitCode: 143 });
    const ranFor = Date.parse(slowExited.stoppedAt) - Date.parse(slowRunning.startedAt);
    expect(ranFor).toBeGreaterThanOrEqual(5000 - 50);
    // Stopped for its timeout, long before its 60 s sleep would end (the bound leaves room for a slow restart).
    expect(ranFor).toBeLessThan(30_000);
    expect(reports(quick, 'attempt-exited')).toHaveLength(1);
  });
});
