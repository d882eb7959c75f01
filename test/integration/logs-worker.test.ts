import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createRedis, RedisKeys, type AttemptExitedEvent, type DispatchPayload } from '#libs/queue';
import { LiveLogs } from '../../apps/worker/src/logs/live-logs.js';
import { ContainerRunner } from '../../apps/worker/src/runner/container-runner.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(30_000);

/**
 * The worker's live copy of a container's output, on the real Docker engine
 * and the real Redis: lines appear in the attempt's stream while the
 * container runs, then an end marker and an expiry; the exit report is
 * unchanged; Redis failing never touches the attempt.
 */
const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
const logger = pino({ level: 'silent' });
const workerId = `logs-test-${randomUUID().slice(0, 8)}`;
let redis: Redis;
const opened: LiveLogs[] = [];

function liveLogs(maxBytes: number, url = testEnv().redisUrl): LiveLogs {
  const live = new LiveLogs(createRedis(url, `${workerId}-logs`, 'request'), workerId, { maxBytes }, logger);
  opened.push(live);
  return live;
}

function runner(live: LiveLogs | null, maxLogBytes = 64 * 1024): ContainerRunner {
  return new ContainerRunner(docker, { workerId, networkMode: 'none', maxLogBytes, pullTimeoutMs: 20_000, stopGraceSeconds: 1 }, logger, live);
}

function payload(command: string[]): DispatchPayload {
  return {
    jobId: randomUUID(), jobName: 'live-logs', queue: 'logs-test', attempt: 1, image: testEnv().testImage, command,
    environment: {}, resources: { vcpus: 0.5, memoryMiB: 64, gpus: 0 }, gpuDevices: [], timeoutSeconds: null,
  };
}

type Entry = Record<string, string>;
async function entries(key: string): Promise<Entry[]> {
  const raw = await redis.xrange(key, '-', '+');
  return raw.map(([, fields]) => Object.fromEntries(fields.flatMap((_, i) => (i % 2 === 0 ? [[fields[i], fields[i + 1]]] : []))));
}

beforeAll(() => {
  redis = new Redis(testEnv().redisUrl);
});

afterAll(async () => {
  await Promise.all(opened.map((l) => l.close()));
  redis.disconnect();
});

afterEach(async () => {
  const left = await docker.listContainers({ all: true, filters: { label: [`gpubatch.worker-id=${workerId}`] } });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true });
});

describe('live logs from the worker to Redis', () => {
  it('appends each line while the container runs, then an end marker and a TTL; the exit report is as before', async () => {
    const job = payload(['sh', '-c', 'echo first; echo oops >&2; sleep 1.5; echo second']);
    const key = RedisKeys.liveLogs(workerId, job.jobId, 1);
    let exitedAt = 0;
    const running = runner(liveLogs(64 * 1024)).run(job, { onRunning: async () => {} }).then((exited) => {
      exitedAt = Date.now();
      return exited;
    });

    // Seen in Redis while the container still runs (it sleeps 1.5 s before its last line).
    const early = await waitFor('the first lines in the stream', async () => {
      const got = await entries(key);
      return got.length >= 2 ? got : undefined;
    }, 10_000, 25);
    expect(exitedAt).toBe(0);
    // Docker orders stdout against stderr as its copiers get them, so only each stream's own order is fixed.
    const byText = (list: Entry[]) => [...list].sort((x, y) => (x.text ?? '').localeCompare(y.text ?? ''));
    expect(byText(early.slice(0, 2))).toEqual([
      { stream: 'stdout', at: expect.any(String), text: 'first', seq: expect.stringMatching(/^[01]$/) },
      { stream: 'stderr', at: expect.any(String), text: 'oops', seq: expect.stringMatching(/^[01]$/) },
    ]);
    expect(early.some((e) => e.end !== undefined)).toBe(false);

    const exited: AttemptExitedEvent = await running;
    const all = await entries(key);
    expect(all.map((e) => e.seq ?? 'END')).toEqual(['0', '1', '2', 'END']);
    expect(all.slice(2).map((e) => e.text ?? 'END')).toEqual(['second', 'END']);
    expect(all[3]).toEqual({ end: expect.any(String), lines: '3' });
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(3000);
    expect(ttl).toBeLessThanOrEqual(3600);

    // The exit report carries the same lines, as it always did.
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(exited.logs).toEqual(all.slice(0, 3).map(({ stream, at, text }) => ({ stream, at, text })));
    expect(exited.logsTruncated).toBe(false);
  });

  it('respects the byte cap with the same truncation marker as the stored copy', async () => {
    const job = payload(['sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo "line $i of some output"; i=$((i+1)); done']);
    const exited = await runner(liveLogs(1024), 1024).run(job, { onRunning: async () => {} });
    expect(exited.logsTruncated).toBe(true);
    const all = await entries(RedisKeys.liveLogs(workerId, job.jobId, 1));
    const lines = all.filter((e) => e.end === undefined);
    expect(lines.map(({ stream, at, text }) => ({ stream, at, text }))).toEqual(exited.logs);
    expect(lines.at(-1)).toMatchObject({ stream: 'stderr', text: '[gpubatch] output truncated at 1024 bytes' });
    expect(lines.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0)).toBeLessThan(1024 + 100);
    expect(all.at(-1)).toMatchObject({ end: expect.any(String) });
  });

  it('marks the end of an attempt whose container never started', async () => {
    const job = { ...payload(['true']), image: 'gpubatch-no-such-image:1' };
    const exited = await runner(liveLogs(1024)).run(job, { onRunning: async () => {} });
    expect(exited.end.kind).toBe('pull-failed');
    expect(await entries(RedisKeys.liveLogs(workerId, job.jobId, 1))).toEqual([{ end: expect.any(String), lines: '0' }]);
  });

  it('never fails or stalls an attempt when Redis is unreachable', async () => {
    // A port nothing listens on: every live write fails.
    const job = payload(['sh', '-c', 'echo one; echo two']);
    const started = Date.now();
    const exited = await runner(liveLogs(64 * 1024, 'redis://127.0.0.1:1/0')).run(job, { onRunning: async () => {} });
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(exited.logs.map((l) => l.text)).toEqual(['one', 'two']);
    // Bounded by the settle time (2 s), not by Redis retries, which would never end (a wide bound for slow CI machines).
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('runs as before without live logs', async () => {
    const exited = await runner(null).run(payload(['sh', '-c', 'echo plain']), { onRunning: async () => {} });
    expect(exited.logs.map((l) => l.text)).toEqual(['plain']);
  });
});
