import { randomUUID } from 'node:crypto';
import { applyCommands } from '#libs/db';
import { ApiHarness } from '../support/api-harness.js';
import { bearer, makeKey } from '../support/auth-fixtures.js';
import { driveJob } from '../support/lifecycle-fixtures.js';

/**
 * GET /api/v1/overview, the dashboard's first page, on the real API and
 * Postgres: jobs per queue and state counted only in the projects the caller
 * may read, GPUs allocated out of total per pool and model, submits and
 * starts per minute.
 */
describe('the overview endpoint (API, real Postgres)', () => {
  let api: ApiHarness;
  const suffix = randomUUID().slice(0, 8);
  const A = `ov-a-${suffix}`;
  const B = `ov-b-${suffix}`;
  const POOL = `ov-pool-${suffix}`;
  const WORKER = `ov-w-${suffix}`;
  let fixture: { queue: string; definition: string };
  let viewerA: Record<string, string>;

  const submit = async (project: string) => {
    const res = await api.post('/api/v1/jobs', { name: 'ov', ...fixture, project });
    expect(res.status).toBe(201);
    return res.body.jobId as string;
  };

  beforeAll(async () => {
    api = await ApiHarness.start();
    fixture = await api.fixture();
    viewerA = bearer((await makeKey(api, [{ project: A, role: 'viewer' }])).key);
    await api.db.query(
      `INSERT INTO workers (id, pool, hostname, vcpus, memory_mib, gpus, state, last_heartbeat_at) VALUES
       ($1, $2, 'h', 8, 65536, $3, 'ACTIVE', now())`,
      [WORKER, POOL, JSON.stringify([
        { index: 0, model: 'A100', memoryMiB: 81920 }, { index: 1, model: 'A100', memoryMiB: 81920 }, { index: 2, model: 'H100', memoryMiB: 81920 },
      ])],
    );
    // A: 2 waiting, 1 running on GPU 1, 1 succeeded, 1 failed. B: 3 waiting.
    for (let i = 0; i < 2; i++) await submit(A);
    const running = await submit(A);
    const [placed] = await applyCommands(api.db, [{ jobId: running, command: { type: 'place', workerId: WORKER, gpuDevices: [1] } }]);
    expect(placed.transition.outcome).toBe('applied');
    await driveJob(api.db, running, 'RUNNING', WORKER);
    await driveJob(api.db, await submit(A), 'SUCCEEDED', WORKER);
    await driveJob(api.db, await submit(A), 'FAILED', WORKER);
    for (let i = 0; i < 3; i++) await submit(B);
    await api.db.query(
      `INSERT INTO usage (job_id, attempt, project, queue, definition, worker_id, pool, vcpus, memory_mib, gpus, started_at, stopped_at, billed_seconds, cost)
       VALUES ($1, 1, $2, $3, 'd', $4, $5, 1, 64, 1, now(), now(), 1, 0)`,
      [running, A, fixture.queue, WORKER, POOL],
    );
  });

  afterAll(async () => {
    await api?.db.query(`UPDATE workers SET state = 'LEFT' WHERE id = $1`, [WORKER]);
    await api?.close();
  });

  const queueRow = (body: any) => body.queues.find((q: any) => q.queue === fixture.queue);

  it('counts every state per queue, and GPUs per pool and model, for an admin', async () => {
    const res = await api.get('/api/v1/overview');
    expect(res.status).toBe(200);
    expect(queueRow(res.body).counts).toEqual({ SUBMITTED: 0, PENDING: 0, RUNNABLE: 5, STARTING: 0, RUNNING: 1, SUCCEEDED: 1, FAILED: 1 });
    expect(res.body.gpus.filter((g: any) => g.pool === POOL)).toEqual([
      { pool: POOL, model: 'A100', total: 2, allocated: 1 },
      { pool: POOL, model: 'H100', total: 1, allocated: 0 },
    ]);
    expect(res.body.finishedWindowHours).toBe(24);
  });

  it('gives one row per minute of the window, with this minute\'s submits and starts', async () => {
    const res = await api.get('/api/v1/overview');
    const minutes = res.body.perMinute;
    expect(minutes).toHaveLength(res.body.rateWindowMinutes);
    expect(new Date(minutes[1].minute).getTime() - new Date(minutes[0].minute).getTime()).toBe(60_000);
    const recent = minutes.slice(-2);
    // The rows were written within the last minute or two (a minute may turn during the test).
    expect(recent.reduce((n: number, m: any) => n + m.submits, 0)).toBeGreaterThanOrEqual(8);
    expect(recent.reduce((n: number, m: any) => n + m.starts, 0)).toBeGreaterThanOrEqual(1);
  });

  it('counts only the projects the caller may read', async () => {
    const res = await api.request('GET', '/api/v1/overview', undefined, viewerA);
    expect(res.status).toBe(200);
    expect(queueRow(res.body).counts).toEqual({ SUBMITTED: 0, PENDING: 0, RUNNABLE: 2, STARTING: 0, RUNNING: 1, SUCCEEDED: 1, FAILED: 1 });
    const recent = res.body.perMinute.slice(-2);
    expect(recent.reduce((n: number, m: any) => n + m.submits, 0)).toBe(5);
    expect(recent.reduce((n: number, m: any) => n + m.starts, 0)).toBe(1);
    const none = bearer((await makeKey(api, [{ project: `ov-none-${suffix}`, role: 'viewer' }])).key);
    const empty = await api.request('GET', '/api/v1/overview', undefined, none);
    expect(queueRow(empty.body).counts).toEqual({ SUBMITTED: 0, PENDING: 0, RUNNABLE: 0, STARTING: 0, RUNNING: 0, SUCCEEDED: 0, FAILED: 0 });
    expect(empty.body.perMinute.every((m: any) => m.submits === 0 && m.starts === 0)).toBe(true);
  });

  it('needs credentials', async () => {
    expect((await api.request('GET', '/api/v1/overview', undefined, { authorization: '' })).status).toBe(401);
  });

  it('serves the dashboard\'s page and its public settings without credentials, with a strict content policy', async () => {
    const page = await fetch(`${api.baseUrl}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    expect(await page.text()).toMatch(/<script type="module" crossorigin src="\/ui\/assets\/index-[\w-]+\.js">/);
    const redirect = await fetch(`${api.baseUrl}/ui`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/ui/');
    expect(await (await fetch(`${api.baseUrl}/ui/config.json`)).json()).toEqual({ oidc: null });
    expect((await fetch(`${api.baseUrl}/ui/../api/v1/jobs`)).status).toBe(401);
    expect((await fetch(`${api.baseUrl}/ui/%2e%2e/%2e%2e/package.json`)).status).toBe(404);
  });
});
