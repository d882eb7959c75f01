import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueNames } from '#libs/queue';
import { ApiHarness } from '../support/api-harness.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const TAG = 'gpubatch:schedule';

describe('schedules API', () => {
  let api: ApiHarness;
  let redis: Redis;
  let triggers: Queue;
  let f: { queue: string; definition: string };
  const created = new Set<string>();

  beforeAll(async () => {
    // Firing tests use a cron of every second: the minimum interval has its own test below.
    api = await ApiHarness.start({ SCHEDULE_MIN_INTERVAL_SECONDS: '1' });
    redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: null });
    triggers = new Queue(QueueNames.schedules, { connection: redis });
    f = await api.fixture();
  });

  afterAll(async () => {
    // Schedules outlive resetState's TRUNCATE: leave none behind to fire in other test files.
    for (const name of created) await api.request('DELETE', `/api/v1/schedules/${name}`);
    await triggers.close();
    redis.disconnect();
    await api.close();
  });

  const freshName = () => `sched-${randomUUID().slice(0, 8)}`;

  async function create(body: Record<string, unknown>, via = api) {
    const res = await via.post('/api/v1/schedules', body);
    if (res.status === 201) created.add(res.body.name);
    return res;
  }

  function validBody(overrides: Record<string, unknown> = {}) {
    return { name: freshName(), cron: '0 3 * * *', submit: { name: 'nightly', queue: f.queue, definition: f.definition }, ...overrides };
  }

  async function jobsOf(name: string): Promise<{ id: string; queue: string; tags: Record<string, string>; client_token: string }[]> {
    return api.db.query(`SELECT id, queue, tags, client_token FROM jobs WHERE tags->>'${TAG}' = $1 ORDER BY created_at`, [name]);
  }

  function parisClock(iso: string): { weekday: string; time: string } {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(new Date(iso));
    const part = (type: string) => parts.find((p) => p.type === type)!.value;
    return { weekday: part('weekday'), time: `${part('hour')}:${part('minute')}` };
  }

  it('creates, lists, describes, pauses, resumes and deletes a schedule, keeping its BullMQ job scheduler in step', async () => {
    const name = freshName();
    const res = await create({ name, cron: '30 9 * * 1-5', timezone: 'Europe/Paris', submit: { name: 'report', queue: f.queue, definition: f.definition, priority: 3 } });
    expect(res).toMatchObject({
      status: 201,
      body: {
        name, cron: '30 9 * * 1-5', timezone: 'Europe/Paris', state: 'ACTIVE', lastFiredAt: null, fireCount: 0,
        submit: { name: 'report', queue: f.queue, definition: f.definition, priority: 3 },
      },
    });
    // nextRunAt is the next weekday 09:30 in Paris, within four days.
    const next = res.body.nextRunAt as string;
    expect(Date.parse(next)).toBeGreaterThan(Date.now());
    expect(Date.parse(next) - Date.now()).toBeLessThan(4 * 24 * 3600_000);
    expect(parisClock(next).time).toBe('09:30');
    expect(['Mon', 'Tue', 'Wed', 'Thu', 'Fri']).toContain(parisClock(next).weekday);
    expect(await triggers.getJobScheduler(name)).toMatchObject({ pattern: '30 9 * * 1-5', tz: 'Europe/Paris', next: Date.parse(next) });

    expect((await api.get('/api/v1/schedules?limit=1000')).body.schedules.some((s: { name: string }) => s.name === name)).toBe(true);
    expect(await api.get(`/api/v1/schedules/${name}`)).toMatchObject({ status: 200, body: { name, state: 'ACTIVE', nextRunAt: next } });

    const paused = await api.post(`/api/v1/schedules/${name}/pause`, undefined);
    expect(paused).toMatchObject({ status: 200, body: { state: 'PAUSED', nextRunAt: null } });
    expect(await triggers.getJobScheduler(name)).toBeUndefined();
    const [row] = await api.db.query(`SELECT state FROM schedules WHERE name = $1`, [name]);
    expect(row.state).toBe('PAUSED');

    const resumed = await api.post(`/api/v1/schedules/${name}/resume`, undefined);
    expect(resumed).toMatchObject({ status: 200, body: { state: 'ACTIVE', nextRunAt: next } });
    expect(await triggers.getJobScheduler(name)).toMatchObject({ pattern: '30 9 * * 1-5', tz: 'Europe/Paris' });

    expect((await api.request('DELETE', `/api/v1/schedules/${name}`)).status).toBe(204);
    expect((await api.get(`/api/v1/schedules/${name}`)).body).toMatchObject({ statusCode: 404, code: 'SCHEDULE_NOT_FOUND' });
    expect(await triggers.getJobScheduler(name)).toBeUndefined();
  });

  it('reads the cron in UTC when no timezone is given', async () => {
    const res = await create(validBody({ cron: '15 4 * * *' }));
    expect(res.body.timezone).toBe('UTC');
    expect(new Date(res.body.nextRunAt).toISOString()).toMatch(/T04:15:00\.000Z$/);
  });

  it.each([
    ['a cron of 3 fields', { cron: '* * *' }, 'cron "* * *" must have 5 or 6 fields'],
    ['a cron of 7 fields', { cron: '* * * * * * *' }, 'cron "* * * * * * *" must have 5 or 6 fields'],
    ['minute 61', { cron: '61 * * * *' }, 'cron "61 * * * *" is invalid: Constraint error, got value 61 expected range 0-59'],
    ['a cron that is not a string', { cron: 5 }, 'cron must be a string'],
    ['an unknown time zone', { timezone: 'Mars/Olympus' }, 'timezone "Mars/Olympus" is not an IANA time zone'],
    ['a name with a space', { name: 'a b' }, 'name must be 1-128'],
    ['no submit body', { submit: undefined }, 'submit is required'],
    ['a submit body without a name', { submit: { queue: 'q', definition: 'd' } }, 'submit.name must be 1-128'],
    ['a submit priority above 9999', { submit: { name: 'x', queue: 'q', definition: 'd', priority: 10000 } }, 'submit.priority must not be greater than 9999'],
    ['a submit override breaking its rule', { submit: { name: 'x', queue: 'q', definition: 'd', overrides: { resources: { vcpus: -1 } } } }, 'submit.overrides.resources.vcpus must not be less than 0.001'],
    ['an unknown field in submit', { submit: { name: 'x', queue: 'q', definition: 'd', colour: 'red' } }, 'submit.property colour should not exist'],
  ])('rejects %s with 400 naming the field', async (_case, fields, message) => {
    const res = await create(validBody(fields));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors.some((e: string) => e.startsWith(message))).toBe(true);
  });

  it('rejects a submit body that sets its own clientToken or leaves a command parameter without a value', async () => {
    const withToken = await create(validBody({ submit: { name: 'x', queue: f.queue, definition: f.definition, clientToken: 'abc' } }));
    expect(withToken).toMatchObject({ status: 400, body: { message: 'submit.clientToken must not be set: each firing gets its own token' } });

    const g = await api.fixture({ command: ['run', 'Ref::input'] });
    const noParam = await create(validBody({ submit: { name: 'x', queue: g.queue, definition: g.definition } }));
    expect(noParam).toMatchObject({ status: 400, body: { message: 'submit.parameters has no value for Ref::input used in command' } });
  });

  it('answers 404 with the jobs API codes when the submit body names an unknown queue or definition, and creates nothing', async () => {
    const noQueue = validBody({ submit: { name: 'x', queue: 'no-such-queue', definition: f.definition } });
    expect((await create(noQueue)).body).toMatchObject({ statusCode: 404, code: 'JOB_QUEUE_NOT_FOUND', message: 'job queue no-such-queue does not exist' });
    const noDefinition = validBody({ submit: { name: 'x', queue: f.queue, definition: 'no-such-def' } });
    expect((await create(noDefinition)).body).toMatchObject({ statusCode: 404, code: 'DEFINITION_NOT_FOUND' });
    for (const body of [noQueue, noDefinition]) expect((await api.get(`/api/v1/schedules/${body.name}`)).status).toBe(404);
  });

  it('refuses a second schedule of the same name with 409', async () => {
    const body = validBody();
    expect((await create(body)).status).toBe(201);
    expect((await create({ ...body, cron: '0 4 * * *' })).body).toMatchObject({ statusCode: 409, code: 'SCHEDULE_EXISTS', message: `schedule ${body.name} already exists` });
    expect((await api.get(`/api/v1/schedules/${body.name}`)).body.cron).toBe('0 3 * * *');
  });

  it('answers 404 SCHEDULE_NOT_FOUND for an unknown schedule', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/schedules/nope'], ['POST', '/api/v1/schedules/nope/pause'], ['POST', '/api/v1/schedules/nope/resume'], ['DELETE', '/api/v1/schedules/nope'],
    ] as const) {
      expect((await api.request(method, url)).body).toMatchObject({ statusCode: 404, code: 'SCHEDULE_NOT_FOUND', message: 'schedule nope does not exist' });
    }
  });

  it('submits a normal job tagged with the schedule at each tick, stops while paused and fires again once resumed', async () => {
    const name = freshName();
    const res = await create({ name, cron: '* * * * * *', submit: { name: 'tick', queue: f.queue, definition: f.definition, tags: { team: 'ml' } } });
    expect(res.status).toBe(201);

    const jobs = await waitFor('two firings', async () => { const j = await jobsOf(name); return j.length >= 2 && j; }, 8000);
    for (const job of jobs) expect(job).toMatchObject({ queue: f.queue, tags: { team: 'ml', [TAG]: name } });
    // Through the jobs API as well: a firing's job is an ordinary job.
    expect((await api.get(`/api/v1/jobs/${jobs[0].id}`)).body).toMatchObject({ name: 'tick', queue: f.queue, tags: { team: 'ml', [TAG]: name } });

    expect((await api.post(`/api/v1/schedules/${name}/pause`, undefined)).status).toBe(200);
    // A firing already past its state check may still land: let it settle, then nothing more may come.
    await new Promise((r) => setTimeout(r, 500));
    const atPause = (await jobsOf(name)).length;
    await new Promise((r) => setTimeout(r, 2500));
    expect((await jobsOf(name)).length).toBe(atPause);

    const detail = (await api.get(`/api/v1/schedules/${name}`)).body;
    expect(detail).toMatchObject({ state: 'PAUSED', fireCount: atPause });
    expect(Date.parse(detail.lastFiredAt)).toBeGreaterThan(Date.now() - 10_000);

    expect((await api.post(`/api/v1/schedules/${name}/resume`, undefined)).status).toBe(200);
    await waitFor('a firing after resume', async () => (await jobsOf(name)).length > atPause, 5000);
  });

  it('fires each tick once with two API instances: one BullMQ job per tick, taken by one of them, one job submitted', async () => {
    const second = await ApiHarness.start({ SCHEDULE_MIN_INTERVAL_SECONDS: '1' });
    const eventsConnection = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: null });
    const events = new QueueEvents(QueueNames.schedules, { connection: eventsConnection });
    try {
      await events.waitUntilReady();
      expect(await triggers.getWorkersCount()).toBeGreaterThanOrEqual(2);
      const name = freshName();
      const taken = new Map<string, number>();
      events.on('active', ({ jobId }) => {
        if (jobId.startsWith(`repeat:${name}:`)) taken.set(jobId, (taken.get(jobId) ?? 0) + 1);
      });

      // Created through one instance; both consume.
      expect((await create({ name, cron: '* * * * * *', submit: { name: 'tick', queue: f.queue, definition: f.definition } }, second)).status).toBe(201);
      await waitFor('four firings', async () => (await jobsOf(name)).length >= 4, 10_000);
      await api.post(`/api/v1/schedules/${name}/pause`, undefined);
      await new Promise((r) => setTimeout(r, 500));

      const jobs = await jobsOf(name);
      const ticks = jobs.map((j) => Number(j.client_token.split('-').at(-1)));
      // One job per tick, each tick a distinct whole second.
      expect(new Set(ticks).size).toBe(jobs.length);
      for (const tick of ticks) expect(tick % 1000).toBe(0);
      // Each tick was one BullMQ job, made active once across both instances.
      for (const tick of ticks) expect(taken.get(`repeat:${name}:${tick}`)).toBe(1);
      expect([...taken.values()].every((n) => n === 1)).toBe(true);
      expect((await api.get(`/api/v1/schedules/${name}`)).body.fireCount).toBe(jobs.length);
    } finally {
      await events.close();
      eventsConnection.disconnect();
      await second.close();
    }
  });

  it('re-arms Redis from Postgres when an API starts: a lost ACTIVE schedule comes back, PAUSED and unknown ones do not', async () => {
    const active = (await create(validBody({ cron: '0 0 1 1 *' }))).body.name as string;
    const paused = (await create(validBody({ cron: '0 0 1 1 *' }))).body.name as string;
    await api.post(`/api/v1/schedules/${paused}/pause`, undefined);
    const stray = freshName();
    await triggers.upsertJobScheduler(stray, { pattern: '0 0 1 1 *' }, { name: 'fire', data: { schedule: stray } });
    await triggers.removeJobScheduler(active); // as if Redis lost it
    expect(await triggers.getJobScheduler(active)).toBeUndefined();

    const restarted = await ApiHarness.start({ SCHEDULE_MIN_INTERVAL_SECONDS: '1' });
    try {
      // Start-up does not wait on Redis: the re-arming runs just after.
      await waitFor('the lost schedule re-armed and the stray one removed', async () =>
        (await triggers.getJobScheduler(active)) !== undefined && (await triggers.getJobScheduler(stray)) === undefined, 5000);
      expect(await triggers.getJobScheduler(active)).toMatchObject({ pattern: '0 0 1 1 *', tz: 'UTC' });
      expect(await triggers.getJobScheduler(paused)).toBeUndefined();
    } finally {
      await restarted.close();
    }
  });
});
