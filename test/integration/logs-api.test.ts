import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisKeys } from '#libs/queue';
import { ApiHarness } from '../support/api-harness.js';
import { testEnv } from '../support/test-env.js';
import { follow } from '../support/sse-follower.js';
import { waitFor } from '../support/wait-for.js';
import { driveJob } from '../support/lifecycle-fixtures.js';

jest.setTimeout(30_000);

const followerConnections = async (redis: Redis) =>
  (await redis.client('LIST') as string).split('\n').filter((l) => l.includes('name=gpubatch-api-logs-follow')).length;

/**
 * GET /jobs/{id}/logs: input rules, and the follow path against the real
 * Postgres and Redis, with the live stream written here in the worker's
 * format (the worker itself is in logs-worker and the e2e test).
 */
describe('job logs API', () => {
  let api: ApiHarness;
  let redis: Redis;

  beforeAll(async () => {
    api = await ApiHarness.start();
    redis = new Redis(testEnv().redisUrl);
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  /** A job whose attempt 1 is RUNNING (as the scheduler would have written it); no scheduler runs here. */
  async function runningJob(): Promise<string> {
    const { queue, definition } = await api.fixture();
    const { body } = await api.post('/api/v1/jobs', { name: 'follow-me', queue, definition });
    await driveJob(api.db, body.jobId, 'RUNNING', 'logs-api-worker');
    return body.jobId;
  }

  const line = (jobId: string, seq: number, text: string) =>
    redis.xadd(RedisKeys.liveLogs('logs-api-worker', jobId, 1), '*', 'stream', 'stdout', 'at', new Date().toISOString(), 'text', text, 'seq', String(seq));

  describe('input', () => {
    it.each([
      ['attempt=0', 'attempt'], ['attempt=-1', 'attempt'], ['attempt=abc', 'attempt'], ['attempt=1.5', 'attempt'], ['attempt=', 'attempt'],
      ['follow=yes', 'follow'], ['follow=1', 'follow'], ['follow=TRUE', 'follow'], ['follow=true&follow=true', 'follow'],
    ])('answers 400 naming the field for %s', async (query, field) => {
      const jobId = await runningJob();
      const res = await api.get(`/api/v1/jobs/${jobId}/logs?${query}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
      expect(res.body.message).toContain(field);
    });

    it('answers 404 for an unknown job, followed or not, and for an attempt it does not have', async () => {
      for (const q of ['', '?follow=true', '?follow=false', '?attempt=1&follow=true']) {
        const res = await api.get(`/api/v1/jobs/no-such-job/logs${q}`);
        expect(res).toMatchObject({ status: 404, body: { statusCode: 404, code: 'JOB_NOT_FOUND' } });
        expect(res.body.message).toContain('no-such-job');
      }
      const jobId = await runningJob();
      for (const q of ['?attempt=2', '?attempt=2&follow=true']) {
        expect(await api.get(`/api/v1/jobs/${jobId}/logs${q}`)).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
      }
    });

    it('serves the stored copy as JSON without follow, or with follow=false', async () => {
      const jobId = await runningJob();
      await api.db.query(`INSERT INTO job_logs (job_id, attempt, stream, at, text) VALUES ($1, 1, 'stdout', now(), 'kept')`, [jobId]);
      for (const q of ['', '?follow=false', '?attempt=1']) {
        const res = await api.get(`/api/v1/jobs/${jobId}/logs${q}`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ jobId, attempt: 1, lines: [{ stream: 'stdout', at: expect.any(String), text: 'kept' }] });
      }
    });
  });

  describe('follow', () => {
    it('replays what the stream holds, then streams new lines until the end marker', async () => {
      const jobId = await runningJob();
      await line(jobId, 0, 'before');
      const f = follow(`${api.baseUrl}/api/v1/jobs/${jobId}/logs?follow=true`);
      const res = await f.response;
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      await waitFor('the replayed line', () => f.lines().length === 1, 5000);
      await line(jobId, 1, 'after');
      await waitFor('the new line', () => f.lines().length === 2, 5000);
      expect(f.closed).toBe(false);
      await redis.xadd(RedisKeys.liveLogs('logs-api-worker', jobId, 1), '*', 'end', new Date().toISOString(), 'lines', '2');
      await waitFor('the stream to close', () => f.closed, 5000);
      expect(f.events.map((e) => e.event)).toEqual(['line', 'line', 'end']);
      expect(f.events[0].data).toEqual({ stream: 'stdout', at: expect.any(String), text: 'before' });
      expect(f.events[2].data).toEqual({ jobId, attempt: 1 });
    });

    it('ends with the stored copy when the attempt ends in Postgres without an end marker', async () => {
      const jobId = await runningJob();
      await line(jobId, 0, 'live one');
      const f = follow(`${api.baseUrl}/api/v1/jobs/${jobId}/logs?follow=true`);
      await waitFor('the live line', () => f.lines().length === 1, 5000);
      // The worker lost Redis after its first line; its exit report reached Postgres with all three.
      await api.db.query(
        `INSERT INTO job_logs (job_id, attempt, stream, at, text) VALUES ($1, 1, 'stdout', now(), 'live one'), ($1, 1, 'stdout', now(), 'two'), ($1, 1, 'stderr', now(), 'three')`,
        [jobId],
      );
      await driveJob(api.db, jobId, 'SUCCEEDED');
      await waitFor('the stream to close', () => f.closed, 10_000);
      expect(f.lines()).toEqual(['live one', 'two', 'three']);
      expect(f.events.at(-1)).toMatchObject({ event: 'end', data: { jobId, attempt: 1 } });
    });

    it('serves a finished attempt from Postgres and ends, whatever Redis holds', async () => {
      const jobId = await runningJob();
      await line(jobId, 0, 'stale redis copy');
      await api.db.query(`INSERT INTO job_logs (job_id, attempt, stream, at, text) VALUES ($1, 1, 'stdout', now(), 'stored')`, [jobId]);
      await driveJob(api.db, jobId, 'SUCCEEDED');
      const f = follow(`${api.baseUrl}/api/v1/jobs/${jobId}/logs?follow=true&attempt=1`);
      await waitFor('the stream to close', () => f.closed, 5000);
      expect(f.events.map((e) => [e.event, e.data.text])).toEqual([['line', 'stored'], ['end', undefined]]);
    });

    it('waits for the first attempt of a job not yet placed, and ends at once for a job that finished without one', async () => {
      const { queue, definition } = await api.fixture();
      const waiting = (await api.post('/api/v1/jobs', { name: 'not-yet', queue, definition })).body.jobId;
      const f = follow(`${api.baseUrl}/api/v1/jobs/${waiting}/logs?follow=true`);
      expect((await f.response).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect(f.closed).toBe(false);
      await driveJob(api.db, waiting, 'FAILED');
      await waitFor('the stream to close', () => f.closed, 5000);
      expect(f.events).toEqual([{ event: 'end', data: { jobId: waiting, attempt: null }, receivedAt: expect.any(Number) }]);
    });

    it('stops reading and releases its Redis connection when the client goes away', async () => {
      const jobId = await runningJob();
      const before = await followerConnections(redis);
      const f = follow(`${api.baseUrl}/api/v1/jobs/${jobId}/logs?follow=true`);
      await line(jobId, 0, 'hello');
      await waitFor('the line', () => f.lines().length === 1, 5000);
      expect(await followerConnections(redis)).toBe(before + 1);
      f.abort();
      await waitFor('the follower connection to close', async () => (await followerConnections(redis)) === before, 5000);
    });
  });

  it('ends open followers when the API shuts down', async () => {
    const jobId = await runningJob();
    const f = follow(`${api.baseUrl}/api/v1/jobs/${jobId}/logs?follow=true`);
    await line(jobId, 0, 'hello');
    await waitFor('the line', () => f.lines().length === 1, 5000);
    const started = Date.now();
    await api.close();
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor('the stream to close', () => f.closed, 5000);
    // Not an end event: the attempt goes on, a client may reconnect.
    expect(f.events.map((e) => e.event)).toEqual(['line']);
    api = undefined as unknown as ApiHarness;
  });
});
