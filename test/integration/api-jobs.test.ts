import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { IDLE_GPU_PERCENT } from '#libs/core';
import { applyCommands } from '#libs/db';
import { QueueNames } from '#libs/queue';
import { ApiHarness } from '../support/api-harness.js';
import { testEnv } from '../support/test-env.js';

describe('jobs and job queues API', () => {
  let api: ApiHarness;
  beforeAll(async () => { api = await ApiHarness.start(); });
  afterAll(async () => { await api.close(); });

  describe('job queues', () => {
    it('creates, describes, updates and lists a queue', async () => {
      const name = `queue-${randomUUID().slice(0, 8)}`;
      const created = await api.post('/api/v1/job-queues', { name, priority: 5, pools: ['gpu-a'] });
      expect(created).toMatchObject({ status: 201, body: { name, priority: 5, state: 'ENABLED', pools: ['gpu-a'] } });
      const patched = await api.request('PATCH', `/api/v1/job-queues/${name}`, { priority: 9, state: 'DISABLED' });
      expect(patched.body).toMatchObject({ priority: 9, state: 'DISABLED', pools: ['gpu-a'] });
      expect((await api.get(`/api/v1/job-queues/${name}`)).body.priority).toBe(9);
      expect((await api.get('/api/v1/job-queues?limit=1000')).body.jobQueues.some((q: { name: string }) => q.name === name)).toBe(true);
    });

    it('refuses a second queue of the same name with 409', async () => {
      const name = `dup-${randomUUID().slice(0, 8)}`;
      await api.post('/api/v1/job-queues', { name, priority: 1 });
      expect(await api.post('/api/v1/job-queues', { name, priority: 2 })).toMatchObject({ status: 409, body: { code: 'JOB_QUEUE_EXISTS' } });
    });

    it('deletes only a DISABLED queue', async () => {
      const name = `del-${randomUUID().slice(0, 8)}`;
      await api.post('/api/v1/job-queues', { name, priority: 1 });
      expect((await api.request('DELETE', `/api/v1/job-queues/${name}`)).body.code).toBe('JOB_QUEUE_IN_USE');
      await api.request('PATCH', `/api/v1/job-queues/${name}`, { state: 'DISABLED' });
      expect((await api.request('DELETE', `/api/v1/job-queues/${name}`)).status).toBe(204);
      expect((await api.get(`/api/v1/job-queues/${name}`)).body.code).toBe('JOB_QUEUE_NOT_FOUND');
    });

    it.each([
      ['priority missing', { name: 'q' }, 'priority must not be less than 0'],
      ['negative priority', { name: 'q', priority: -1 }, 'priority must not be less than 0'],
      ['unknown state', { name: 'q', priority: 1, state: 'PAUSED' }, 'state must be ENABLED or DISABLED'],
      ['bad pool name', { name: 'q', priority: 1, pools: ['a b'] }, 'each of pools must be 1-128'],
      ['name with a slash', { name: 'a/b', priority: 1 }, 'name must be 1-128'],
      ['unknown scheduling policy', { name: 'q', priority: 1, schedulingPolicy: 'LIFO' }, 'schedulingPolicy must be FIFO or FAIR_SHARE'],
    ])('rejects %s with 400', async (_c, body, message) => {
      const res = await api.post('/api/v1/job-queues', body);
      expect(res.status).toBe(400);
      expect(res.body.errors.some((e: string) => e.startsWith(message))).toBe(true);
    });
  });

  describe('submit', () => {
    it('commits the job with its events before answering 201, and puts it on the queue\'s intake', async () => {
      const f = await api.fixture({ command: ['echo', 'Ref::word'], parameters: { word: 'default' }, environment: { A: '1', B: '2' } });
      const res = await api.post('/api/v1/jobs', {
        name: 'first', queue: f.queue, definition: f.definition, priority: 7, parameters: { word: 'given' },
        overrides: { environment: { B: 'override' }, resources: { gpus: 0, memoryMiB: 128 } }, tags: { team: 'vision' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ jobId: expect.any(String), name: 'first' });

      // Read straight from Postgres, not through the API: the row exists as soon as the reply does.
      const [row] = await api.db.query(`SELECT status, command, environment, vcpus, memory_mib, priority, tags FROM jobs WHERE id = $1`, [res.body.jobId]);
      expect(row).toEqual({
        status: 'RUNNABLE', command: ['echo', 'given'], environment: { A: '1', B: 'override' }, vcpus: '0.250',
        memory_mib: 128, priority: 7, tags: { team: 'vision' },
      });
      const events = await api.db.query(`SELECT from_status, to_status FROM job_events WHERE job_id = $1 ORDER BY id`, [res.body.jobId]);
      expect(events).toEqual([{ from_status: null, to_status: 'SUBMITTED' }, { from_status: 'SUBMITTED', to_status: 'RUNNABLE' }]);

      const redis = new Redis(testEnv().redisUrl);
      const intake = new Queue(QueueNames.intake(f.queue), { connection: redis });
      try {
        expect((await intake.getJob(res.body.jobId))?.data).toEqual({ jobId: res.body.jobId });
      } finally {
        await intake.close();
        redis.disconnect();
      }
      const detail = (await api.get(`/api/v1/jobs/${res.body.jobId}`)).body;
      expect(detail).toMatchObject({ status: 'RUNNABLE', definition: `${f.definition}:1`, resources: { vcpus: 0.25, memoryMiB: 128, gpus: 0 }, attempts: [] });
      expect(detail.statusReason).toBeTruthy();
    });

    it('returns the same job for a repeated clientToken', async () => {
      const f = await api.fixture();
      const token = randomUUID();
      const a = await api.post('/api/v1/jobs', { name: 'a', queue: f.queue, definition: f.definition, clientToken: token });
      const b = await api.post('/api/v1/jobs', { name: 'a', queue: f.queue, definition: f.definition, clientToken: token });
      expect(b.body.jobId).toBe(a.body.jobId);
      const [{ count }] = await api.db.query(`SELECT count(*)::int AS count FROM jobs WHERE client_token = $1`, [token]);
      expect(count).toBe(1);
    });

    it('answers 404 with a code for an unknown queue or definition, 409 for a DISABLED queue or INACTIVE revision', async () => {
      const f = await api.fixture();
      expect((await api.post('/api/v1/jobs', { name: 'x', queue: 'no-such-queue', definition: f.definition })).body)
        .toMatchObject({ statusCode: 404, code: 'JOB_QUEUE_NOT_FOUND' });
      expect((await api.post('/api/v1/jobs', { name: 'x', queue: f.queue, definition: 'no-such-def' })).body)
        .toMatchObject({ statusCode: 404, code: 'DEFINITION_NOT_FOUND' });
      await api.request('DELETE', `/api/v1/job-definitions/${f.definition}/1`);
      expect((await api.post('/api/v1/jobs', { name: 'x', queue: f.queue, definition: `${f.definition}:1` })).body)
        .toMatchObject({ statusCode: 409, code: 'DEFINITION_INACTIVE' });
      await api.request('PATCH', `/api/v1/job-queues/${f.queue}`, { state: 'DISABLED' });
      expect((await api.post('/api/v1/jobs', { name: 'x', queue: f.queue, definition: f.definition })).body)
        .toMatchObject({ statusCode: 409, code: 'JOB_QUEUE_DISABLED', message: `job queue ${f.queue} is DISABLED` });
    });

    it('rejects parameters that would expand the command past 256 KiB', async () => {
      const f = await api.fixture({ command: Array(7).fill('Ref::a '.repeat(4600)) });
      const res = await api.post('/api/v1/jobs', { name: 'x', queue: f.queue, definition: f.definition, parameters: { a: 'x'.repeat(32_768) } });
      expect(res).toMatchObject({ status: 400, body: { message: 'parameters expand command to more than 262144 characters' } });
    });

    it('rejects a command parameter with no value, naming it', async () => {
      const f = await api.fixture({ command: ['run', 'Ref::input'] });
      const res = await api.post('/api/v1/jobs', { name: 'x', queue: f.queue, definition: f.definition });
      expect(res).toMatchObject({ status: 400, body: { message: 'parameters has no value for Ref::input used in command' } });
    });

    it.each([
      ['missing name', { name: undefined }, 'name must be 1-128'],
      ['name with spaces', { name: 'a job' }, 'name must be 1-128'],
      ['bad definition ref', { definition: 'def:0' }, 'definition must be "name" or "name:revision"'],
      ['priority above 9999', { priority: 10000 }, 'priority must not be greater than 9999'],
      ['override vcpus negative', { overrides: { resources: { vcpus: -2 } } }, 'overrides.resources.vcpus must not be less than 0.001'],
      ['override memory 0', { overrides: { resources: { memoryMiB: 0 } } }, 'overrides.resources.memoryMiB must not be less than 1'],
      ['override gpus fractional', { overrides: { resources: { gpus: 0.5 } } }, 'overrides.resources.gpus must be an integer number'],
      ['override command not strings', { overrides: { command: [1, 2] } }, 'overrides.command must be an array of strings'],
      ['unknown top-level field', { dependsOnn: [] }, 'property dependsOnn should not exist'],
      ['unknown nested field', { overrides: { image: 'x' } }, 'overrides.property image should not exist'],
      ['empty gpuModel', { overrides: { resources: { gpuModel: '' } } }, 'overrides.resources.gpuModel must be one or more model names separated by |, none empty'],
      ['gpuModel with an empty alternative', { overrides: { resources: { gpuModel: 'A100||H100' } } }, 'overrides.resources.gpuModel must be one or more model names'],
      ['label selector that does not parse', { labelSelector: 'zone=a b' }, 'labelSelector term "zone=a b" has a value that is not a valid label value'],
      ['label selector with no key', { labelSelector: '=a' }, 'labelSelector term "=a" must start with a label key'],
      ['gpus negative', { overrides: { resources: { gpus: -1 } } }, 'overrides.resources.gpus must not be less than 0'],
      ['clientToken too long', { clientToken: 'x'.repeat(65) }, 'clientToken must be shorter than or equal to 64 characters'],
    ])('rejects %s with 400 naming the field', async (_c, over, message) => {
      const res = await api.post('/api/v1/jobs', { name: 'ok', queue: 'q', definition: 'd', ...over });
      expect(res.status).toBe(400);
      expect(res.body.errors.some((e: string) => e.startsWith(message))).toBe(true);
    });

    it('answers 413 for a body over 256 KiB and 400 for malformed JSON', async () => {
      const big = { name: 'big', queue: 'q', definition: 'd', tags: { blob: 'x'.repeat(300 * 1024) } };
      expect(await api.post('/api/v1/jobs', big)).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
      expect((await api.request('POST', '/api/v1/jobs', '{"name":', { 'content-type': 'application/json' })).status).toBe(400);
    });
  });

  describe('list and describe', () => {
    it('lists newest first with cursor paging that neither skips nor repeats', async () => {
      const f = await api.fixture();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await api.post('/api/v1/jobs', { name: `j${i}`, queue: f.queue, definition: f.definition })).body.jobId);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { jobs: { jobId: string }[]; nextCursor: string | null } =
          (await api.get(`/api/v1/jobs?queue=${f.queue}&limit=2${cursor ? `&cursor=${cursor}` : ''}`)).body;
        seen.push(...page.jobs.map((j) => j.jobId));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual([...ids].reverse());
      const runnable = (await api.get(`/api/v1/jobs?queue=${f.queue}&status=RUNNABLE&limit=10`)).body.jobs;
      expect(runnable).toHaveLength(5);
      expect((await api.get(`/api/v1/jobs?queue=${f.queue}&status=SUCCEEDED`)).body.jobs).toEqual([]);
    });

    it('rejects a forged cursor and bad filters with 400', async () => {
      expect((await api.get('/api/v1/jobs?cursor=not-a-cursor')).body)
        .toMatchObject({ statusCode: 400, message: 'cursor must be a value returned as nextCursor by a previous page' });
      const forged = Buffer.from(JSON.stringify(['1', 'x'])).toString('base64url');
      expect((await api.get(`/api/v1/jobs?cursor=${forged}`)).status).toBe(400);
      expect((await api.post('/api/v1/jobs/x%00y/cancel', { reason: 'r' })).status).toBe(400);
      expect((await api.get('/api/v1/jobs?status=DONE')).status).toBe(400);
      expect((await api.get('/api/v1/jobs?limit=0')).status).toBe(400);
    });

    it('flags in the list, as in the detail view, the jobs whose GPUs sat idle', async () => {
      const f = await api.fixture({ resources: { vcpus: 0.25, memoryMiB: 64, gpus: 1 } });
      // avgPercent per job; null: an attempt whose worker sampled nothing. The threshold itself is not idle.
      const cases: [string, number | null][] = [['idle', 0], ['under', IDLE_GPU_PERCENT - 0.01], ['at', IDLE_GPU_PERCENT], ['busy', 80], ['unsampled', null]];
      const ids: Record<string, string> = {};
      for (const [name, avg] of cases) {
        const { jobId } = (await api.post('/api/v1/jobs', { name: `gpu-${name}`, queue: f.queue, definition: f.definition })).body;
        ids[name] = jobId;
        const stoppedAt = new Date();
        await applyCommands(api.db, [{ jobId, command: { type: 'place', workerId: `idle-w-${name}`, gpuDevices: [0] } }]);
        await applyCommands(api.db, [
          { jobId, containerId: `c-${name}`, command: { type: 'container-started', attempt: 1, workerId: `idle-w-${name}`, startedAt: new Date(stoppedAt.getTime() - 5000) } },
          { jobId, command: { type: 'attempt-ended', attempt: 1, stoppedAt, end: { kind: 'exited', exitCode: 0, oomKilled: false } } },
        ]);
        // What the scheduler keeps of the worker's samples when the attempt ends (recordGpuUtilization).
        if (avg !== null) {
          await api.db.query(
            `UPDATE job_attempts SET gpu_util_samples = 3, gpu_util_avg = $2, gpu_util_peak = $2, gpu_memory_avg_mib = 10, gpu_memory_peak_mib = 10,
                    gpu_idle_fraction = $3 WHERE job_id = $1 AND attempt = 1`, [jobId, avg, avg < IDLE_GPU_PERCENT ? 1 : 0]);
        }
      }
      const listed: { jobId: string; gpuIdle: boolean }[] = (await api.get(`/api/v1/jobs?queue=${f.queue}`)).body.jobs;
      const flagged = Object.fromEntries(cases.map(([name]) => [name, listed.find((j) => j.jobId === ids[name])?.gpuIdle]));
      expect(flagged).toEqual({ idle: true, under: true, at: false, busy: false, unsampled: false });
      for (const [name] of cases) expect((await api.get(`/api/v1/jobs/${ids[name]}`)).body.gpuIdle).toBe(flagged[name]);
      // A job that has not run is not flagged.
      const waiting = (await api.post('/api/v1/jobs', { name: 'gpu-waiting', queue: f.queue, definition: f.definition })).body.jobId;
      expect((await api.get(`/api/v1/jobs?queue=${f.queue}&status=RUNNABLE`)).body.jobs).toEqual([expect.objectContaining({ jobId: waiting, gpuIdle: false })]);
    });

    it('answers 404 for an unknown job, its logs, or a worker', async () => {
      expect((await api.get('/api/v1/jobs/nope')).body).toMatchObject({ statusCode: 404, code: 'JOB_NOT_FOUND' });
      expect((await api.get('/api/v1/jobs/nope/logs')).body).toMatchObject({ statusCode: 404, code: 'JOB_NOT_FOUND' });
      expect((await api.get('/api/v1/workers/nope')).body).toMatchObject({ statusCode: 404, code: 'WORKER_NOT_FOUND' });
      expect((await api.get('/api/v1/no-such-route')).status).toBe(404);
    });

    it('returns empty logs for a job that has not run', async () => {
      const f = await api.fixture();
      const { jobId } = (await api.post('/api/v1/jobs', { name: 'j', queue: f.queue, definition: f.definition })).body;
      expect((await api.get(`/api/v1/jobs/${jobId}/logs`)).body).toEqual({ jobId, attempt: null, lines: [] });
    });
  });

  describe('health', () => {
    it('is live and ready while Postgres and Redis answer', async () => {
      expect(await api.get('/health/live')).toEqual({ status: 200, body: { status: 'ok' } });
      expect(await api.get('/health/ready')).toEqual({ status: 200, body: { status: 'ok', postgres: 'ok', redis: 'ok' } });
    });

    it('is not ready (503, naming Redis) when Redis is unreachable', async () => {
      const broken = await ApiHarness.start({ REDIS_URL: 'redis://127.0.0.1:1' });
      try {
        expect((await broken.get('/health/live')).status).toBe(200);
        const ready = await broken.get('/health/ready');
        expect(ready.status).toBe(503);
        expect(ready.body.message).toMatch(/^postgres: ok; redis: (down|timeout)/);
        // Postgres is the source of truth: a submit still commits and answers, without hanging on Redis.
        const f = await broken.fixture();
        const res = await broken.post('/api/v1/jobs', { name: 'while-redis-is-down', queue: f.queue, definition: f.definition });
        expect(res.status).toBe(201);
        const [row] = await broken.db.query(`SELECT status FROM jobs WHERE id = $1`, [res.body.jobId]);
        expect(row).toEqual({ status: 'RUNNABLE' });
      } finally {
        await broken.close();
      }
    });
  });
});
