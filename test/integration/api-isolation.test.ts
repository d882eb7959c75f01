import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ApiHarness } from '../support/api-harness.js';
import { bearer, makeKey } from '../support/auth-fixtures.js';
import { follow } from '../support/sse-follower.js';
import { applyCommands } from '#libs/db';

jest.setTimeout(60_000);

/**
 * A member of project A cannot list, read, follow logs of, cancel,
 * terminate, cost or report on anything of project B: B's jobs, schedules,
 * usage and spend do not exist for it (404, absent from lists and totals).
 */
describe('project isolation (API, real Postgres)', () => {
  let api: ApiHarness;
  const A = `iso-a-${randomUUID().slice(0, 6)}`;
  const B = `iso-b-${randomUUID().slice(0, 6)}`;
  let memberA: Record<string, string>;
  let viewerA: Record<string, string>;
  let limitedAdminA: Record<string, string>;
  let jobA: string;
  let jobB: string;
  let fixture: { queue: string; definition: string };

  beforeAll(async () => {
    api = await ApiHarness.start();
    memberA = bearer((await makeKey(api, [{ project: A, role: 'member' }])).key);
    viewerA = bearer((await makeKey(api, [{ project: A, role: 'viewer' }])).key);
    limitedAdminA = bearer((await makeKey(api, [{ project: '*', role: 'admin' }], { project: A })).key);
    fixture = await api.fixture();
    jobA = (await api.request('POST', '/api/v1/jobs', { name: 'a', ...fixture, project: A }, memberA)).body.jobId;
    jobB = (await api.post('/api/v1/jobs', { name: 'b', ...fixture, project: B })).body.jobId;
    expect(jobA).toEqual(expect.any(String));
    expect(jobB).toEqual(expect.any(String));
    for (const p of [A, B]) expect((await api.post('/api/v1/projects', { name: p, monthlyBudget: '100' })).status).toBe(201);
    await api.db.query(
      `INSERT INTO usage (job_id, attempt, project, queue, definition, worker_id, pool, vcpus, memory_mib, gpus, started_at, stopped_at, billed_seconds, cost)
       VALUES ($1, 1, $2, 'q', 'd', 'w', 'default', 1, 64, 1, now() - interval '1 hour', now() - interval '30 minutes', 1800, 1.5),
              ($3, 1, $4, 'q', 'd', 'w', 'default', 1, 64, 1, now() - interval '1 hour', now() - interval '30 minutes', 1800, 7.25)`,
      [jobA, A, jobB, B],
    );
    for (const [name, project] of [[`sch-${A}`, A], [`sch-${B}`, B]] as const) {
      const res = await api.post('/api/v1/schedules', { name, cron: '0 0 1 1 *', submit: { name: 's', ...fixture, project } });
      expect(res.status).toBe(201);
    }
  });

  afterAll(async () => {
    await api?.close();
  });

  const as = (headers: Record<string, string>) => ({
    get: (url: string) => api.request('GET', url, undefined, headers),
    post: (url: string, payload: unknown) => api.request('POST', url, payload, headers),
    del: (url: string) => api.request('DELETE', url, undefined, headers),
  });

  it.each([['member', () => memberA], ['viewer', () => viewerA], ['admin limited to A', () => limitedAdminA]])(
    '%s of A: lists only A\'s jobs and reads none of B\'s (404, not 403)', async (_, whoOf) => {
      const who = whoOf();
      const c = as(who);
      const ids = (await c.get('/api/v1/jobs?limit=1000')).body.jobs.map((j: { jobId: string }) => j.jobId);
      expect(ids).toContain(jobA);
      expect(ids).not.toContain(jobB);
      expect((await c.get(`/api/v1/jobs/${jobA}`)).status).toBe(200);
      for (const url of [`/api/v1/jobs/${jobB}`, `/api/v1/jobs/${jobB}/logs`, `/api/v1/jobs/${jobB}/logs?follow=true`]) {
        const res = await c.get(url);
        expect({ url, status: res.status, code: res.body.code }).toEqual({ url, status: 404, code: 'JOB_NOT_FOUND' });
      }
      for (const action of ['cancel', 'terminate']) {
        const res = await c.post(`/api/v1/jobs/${jobB}/${action}`, { reason: 'not yours' });
        // A viewer may submit nowhere: the guard refuses it before any job is looked up, the same for every id.
        const nowhere = await c.post(`/api/v1/jobs/no-such-job/${action}`, { reason: 'x' });
        expect({ action, status: res.status, code: res.body.code }).toEqual({ action, status: nowhere.status, code: nowhere.body.code });
        expect(res.status).toBe(who === viewerA ? 403 : 404);
      }
    });

  it('a follower of A cannot see B\'s logs over SSE either', async () => {
    const f = follow(`${api.baseUrl}/api/v1/jobs/${jobB}/logs?follow=true`, memberA.authorization!.slice(7));
    expect((await f.response).status).toBe(404);
    f.abort();
  });

  it('B\'s job is unchanged by A\'s attempts, and A\'s member can cancel its own', async () => {
    expect((await api.get(`/api/v1/jobs/${jobB}`)).body.status).toBe('RUNNABLE');
    const own = (await as(memberA).post('/api/v1/jobs', { name: 'mine', ...fixture, project: A })).body.jobId;
    expect((await as(memberA).post(`/api/v1/jobs/${own}/cancel`, { reason: 'mine' })).status).toBe(200);
  });

  it('a viewer of A reads A but cannot submit, cancel or terminate there (403)', async () => {
    const c = as(viewerA);
    expect((await c.post('/api/v1/jobs', { name: 'v', ...fixture, project: A })).status).toBe(403);
    expect((await c.post(`/api/v1/jobs/${jobA}/cancel`, { reason: 'x' })).status).toBe(403);
    expect((await c.post(`/api/v1/jobs/${jobA}/terminate`, { reason: 'x' })).status).toBe(403);
  });

  it('a member of A cannot submit into B (or the default project)', async () => {
    const c = as(memberA);
    expect((await c.post('/api/v1/jobs', { name: 'x', ...fixture, project: B })).status).toBe(403);
    expect((await c.post('/api/v1/jobs', { name: 'x', ...fixture })).status).toBe(403);
  });

  it('usage: B\'s rows are absent from A\'s report and from its totals', async () => {
    const mine = (await as(memberA).get('/api/v1/usage?groupBy=project')).body;
    expect(mine.rows.map((r: { project: string }) => r.project)).toEqual([A]);
    expect(mine.totals).toEqual([expect.objectContaining({ cost: '1.5', attempts: 1 })]);
    const ungrouped = (await as(memberA).get('/api/v1/usage')).body;
    expect(ungrouped.totals).toEqual([expect.objectContaining({ cost: '1.5' })]);
    const csv = await api.request('GET', '/api/v1/usage?groupBy=project', undefined, { ...memberA, accept: 'text/csv' });
    expect(csv.body).not.toContain(B);
    const all = (await api.get('/api/v1/usage?groupBy=project')).body;
    expect(all.rows.map((r: { project: string }) => r.project)).toEqual(expect.arrayContaining([A, B]));
  });

  it('projects: B\'s budget and spend do not exist for A', async () => {
    const names = (await as(memberA).get('/api/v1/projects?limit=1000')).body.projects.map((p: { name: string }) => p.name);
    expect(names).toContain(A);
    expect(names).not.toContain(B);
    expect((await as(memberA).get(`/api/v1/projects/${B}`)).status).toBe(404);
    expect((await as(memberA).get(`/api/v1/projects/${A}`)).status).toBe(200);
  });

  it('schedules: B\'s are absent from A\'s list and 404 to every action', async () => {
    const c = as(memberA);
    const names = (await c.get('/api/v1/schedules?limit=1000')).body.schedules.map((s: { name: string }) => s.name);
    expect(names).toContain(`sch-${A}`);
    expect(names).not.toContain(`sch-${B}`);
    expect((await c.get(`/api/v1/schedules/sch-${B}`)).status).toBe(404);
    expect((await c.post(`/api/v1/schedules/sch-${B}/pause`, {})).status).toBe(404);
    expect((await c.post(`/api/v1/schedules/sch-${B}/resume`, {})).status).toBe(404);
    expect((await c.del(`/api/v1/schedules/sch-${B}`)).status).toBe(404);
    expect((await c.post('/api/v1/schedules', { name: `sch-x-${B}`, cron: '0 0 1 1 *', submit: { name: 's', ...fixture, project: B } })).status).toBe(403);
    expect((await c.post(`/api/v1/schedules/sch-${A}/pause`, {})).status).toBe(200);
  });

  it('workers: a GPU held by B\'s job shows as held, by no job A can name', async () => {
    const worker = `iso-w-${A}`;
    const gpu = (index: number) => ({ index, uuid: `GPU-${index}`, model: 'A100', memoryMiB: 81920 });
    await api.db.query(
      `INSERT INTO workers (id, pool, hostname, vcpus, memory_mib, gpus, state, last_heartbeat_at) VALUES ($1, 'default', 'h', 8, 8192, $2, 'ACTIVE', now())`,
      [worker, JSON.stringify([gpu(0), gpu(1), gpu(2)])],
    );
    const onGpu = async (project: string, device: number) => {
      const id = (await api.post('/api/v1/jobs', { name: `g${device}`, ...fixture, project })).body.jobId;
      const [applied] = await applyCommands(api.db, [{ jobId: id, command: { type: 'place', workerId: worker, gpuDevices: [device] } }]);
      expect(applied.transition.outcome).toBe('applied');
      return id;
    };
    const mine = await onGpu(A, 0);
    await onGpu(B, 1);
    for (const res of [await as(memberA).get(`/api/v1/workers/${worker}`),
      { status: 200, body: (await as(memberA).get('/api/v1/workers?limit=1000')).body.workers.find((w: { workerId: string }) => w.workerId === worker) }]) {
      expect(res.status).toBe(200);
      expect(res.body.gpus.map((g: Record<string, unknown>) => [g.held, g.jobId, g.project])).toEqual([[true, mine, A], [true, null, null], [false, null, null]]);
      expect(res.body.allocated.gpus).toBe(2);
      expect(JSON.stringify(res.body)).not.toContain(B);
    }
    // A reader of every project sees both holders.
    const all = (await api.get(`/api/v1/workers/${worker}`)).body;
    expect(all.gpus.map((g: { project: string | null }) => g.project)).toEqual([A, B, null]);
  });
});
