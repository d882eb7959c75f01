import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { RedisKeys } from '#libs/queue';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { testEnv } from '../support/test-env.js';
import { follow } from '../support/sse-follower.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Live logs through the three built apps and a real container: the worker
 * copies output to Redis as it comes, the API streams it as server-sent
 * events, and Postgres keeps it once the attempt is over.
 */
describe('end to end: job logs, followed live and stored', () => {
  const QUEUE = 'logs-e2e';
  const POOL = 'logs-e2e';
  const WORKER = 'logs-e2e-worker';
  const MAX_LOG_BYTES = 4096;
  let db: DataSource;
  let redis: Redis;
  let cluster: LocalCluster;
  let base: string;
  let call: ApiCall;

  const describeJob = async (id: string) => (await call('GET', `/api/v1/jobs/${id}`)).body;
  const finished = (id: string) => waitFor(`job ${id} to finish`, async () => {
    const job = await describeJob(id);
    return ['SUCCEEDED', 'FAILED'].includes(job.status) ? job : undefined;
  }, 60_000, 100);
  const submit = async (definition: string, name = 'logs') =>
    (await call('POST', '/api/v1/jobs', { name, queue: QUEUE, definition })).body.jobId as string;
  const define = async (name: string, script: string) => {
    const res = await call('POST', '/api/v1/job-definitions', {
      name, image: testEnv().testImage, command: ['sh', '-c', script], resources: { vcpus: 0.5, memoryMiB: 64 },
    });
    expect(res.status).toBe(201);
  };

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    redis = new Redis(testEnv().redisUrl);
    ({ cluster, base, call } = await startCluster());
    cluster.start('worker', {
      WORKER_ID: WORKER, WORKER_POOL: POOL, WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024', WORKER_GPUS: 'none',
      JOB_NETWORK_MODE: 'none', JOB_STOP_GRACE_SECONDS: '1', JOB_MAX_LOG_BYTES: String(MAX_LOG_BYTES),
    });
    await waitFor('the worker to join', async () => (await call('GET', '/api/v1/workers?limit=1000')).body.workers.some(
      (w: { workerId: string; state: string }) => w.workerId === WORKER && w.state === 'ACTIVE'), 30_000, 100);
    expect((await call('POST', '/api/v1/job-queues', { name: QUEUE, priority: 1, pools: [POOL] })).status).toBe(201);
    await define('logs-e2e-slow', 'echo first; sleep 2; echo second >&2');
    await define('logs-e2e-chatty', 'i=0; while [ $i -lt 500 ]; do echo "chatty line $i"; i=$((i+1)); done');
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    redis?.disconnect();
    await db?.destroy();
  });

  let slowJob: string;

  it('streams a running job line by line: the first line arrives before the container exits', async () => {
    slowJob = await submit('logs-e2e-slow', 'slow');
    // Follow once it is placed: as a user would after seeing it STARTING or RUNNING.
    await waitFor('the job to be placed', async () => ['STARTING', 'RUNNING'].includes((await describeJob(slowJob)).status), 30_000, 25);
    const f = follow(`${base}/api/v1/jobs/${slowJob}/logs?follow=true`);
    const res = await f.response;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);

    await waitFor('the stream to end', () => f.closed, 30_000, 25);
    expect(f.events.map((e) => e.event)).toEqual(['line', 'line', 'end']);
    const [first, second, end] = f.events;
    expect(first.data).toEqual({ stream: 'stdout', at: expect.any(String), text: 'first' });
    expect(second.data).toEqual({ stream: 'stderr', at: expect.any(String), text: 'second' });
    expect(end.data).toEqual({ jobId: slowJob, attempt: 1 });

    const job = await finished(slowJob);
    expect(job.status).toBe('SUCCEEDED');
    const stoppedAt = Date.parse(job.attempts[0].stoppedAt);
    // Live: the first line came while the container still ran, about 2 s before the second.
    expect(first.receivedAt).toBeLessThan(stoppedAt - 1000);
    expect(second.receivedAt - first.receivedAt).toBeGreaterThan(1000);
    expect(end.receivedAt).toBeGreaterThanOrEqual(second.receivedAt);
  });

  it('follows a finished job: its stored lines, then the end', async () => {
    const f = follow(`${base}/api/v1/jobs/${slowJob}/logs?follow=true`);
    await waitFor('the stream to end', () => f.closed, 10_000, 25);
    expect(f.events.map((e) => [e.event, e.data.text ?? null])).toEqual([['line', 'first'], ['line', 'second'], ['end', null]]);
    const stored = (await call('GET', `/api/v1/jobs/${slowJob}/logs`)).body;
    expect(stored.lines).toEqual(f.events.filter((e) => e.event === 'line').map((e) => e.data));
  });

  it('serves the stored logs after the live stream is gone from Redis', async () => {
    const key = RedisKeys.liveLogs(WORKER, slowJob, 1);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
    expect(await redis.del(key)).toBe(1);

    const stored = await call('GET', `/api/v1/jobs/${slowJob}/logs?attempt=1`);
    expect(stored.status).toBe(200);
    expect(stored.body.lines.map((l: { text: string }) => l.text)).toEqual(['first', 'second']);
    const f = follow(`${base}/api/v1/jobs/${slowJob}/logs?follow=true`);
    await waitFor('the stream to end', () => f.closed, 10_000, 25);
    expect(f.lines()).toEqual(['first', 'second']);
    expect(f.events.at(-1)?.event).toBe('end');
  });

  it('caps the output per attempt with a truncation marker, live and stored alike', async () => {
    const id = await submit('logs-e2e-chatty', 'chatty');
    await waitFor('the job to be placed', async () => (await describeJob(id)).attempts.length > 0, 30_000, 25);
    const f = follow(`${base}/api/v1/jobs/${id}/logs?follow=true`);
    await waitFor('the stream to end', () => f.closed, 30_000, 25);
    const live = f.lines();
    expect(live.at(-1)).toBe(`[gpubatch] output truncated at ${MAX_LOG_BYTES} bytes`);
    expect(live.length).toBeLessThan(500);
    expect(live.slice(0, -1).reduce((n, t) => n + Buffer.byteLength(t) + 1, 0)).toBeLessThanOrEqual(MAX_LOG_BYTES);
    expect((await finished(id)).status).toBe('SUCCEEDED');
    expect((await call('GET', `/api/v1/jobs/${id}/logs`)).body.lines.map((l: { text: string }) => l.text)).toEqual(live);
  });

  it('answers 400 for bad input and 404 for an unknown job', async () => {
    const bad = await call('GET', `/api/v1/jobs/${slowJob}/logs?follow=maybe`);
    expect(bad).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect(bad.body.message).toContain('follow');
    expect((await call('GET', `/api/v1/jobs/${slowJob}/logs?attempt=0&follow=true`)).status).toBe(400);
    expect((await call('GET', '/api/v1/jobs/nope/logs?follow=true')).body).toMatchObject({ statusCode: 404, code: 'JOB_NOT_FOUND' });
  });

  it('every process exits 0 on SIGTERM', async () => {
    expect(await cluster.stop()).toEqual({ worker: 0, scheduler: 0, api: 0 });
  });
});
