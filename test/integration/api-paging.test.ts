import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ApiHarness } from '../support/api-harness.js';
import { bearer, makeKey } from '../support/auth-fixtures.js';
import { testEnv } from '../support/test-env.js';

jest.setTimeout(60_000);

/**
 * Every list is paged (`limit`, `cursor` → `nextCursor`): walking the pages
 * gives each row once, in the list's order, and a page can be asked for
 * after rows were added or removed without repeating or skipping one.
 */
describe('paged lists (API, real Postgres)', () => {
  let api: ApiHarness;
  const tag = randomUUID().slice(0, 6);
  const names = (prefix: string) => [0, 1, 2, 3, 4].map((i) => `${prefix}-${tag}-${i}`);

  beforeAll(async () => {
    api = await ApiHarness.start();
    for (const [i, name] of names('pq').entries()) {
      // Equal priorities for some, so the order needs both keys: priority, then name.
      expect((await api.post('/api/v1/job-queues', { name, priority: 900 + (i % 2) })).status).toBe(201);
    }
    for (const name of names('pp')) expect((await api.post('/api/v1/pools', { name })).status).toBe(201);
    for (const name of names('pj')) expect((await api.post('/api/v1/projects', { name })).status).toBe(201);
    for (const name of names('pd')) {
      for (let revision = 0; revision < 2; revision++) {
        const res = await api.post('/api/v1/job-definitions', { name, image: testEnv().testImage, command: ['true'], resources: { vcpus: 0.25, memoryMiB: 64 } });
        expect(res.status).toBe(201);
      }
    }
    const fixture = await api.fixture();
    for (const [i, name] of names('ps').entries()) {
      const res = await api.post('/api/v1/schedules', { name, cron: '0 0 1 1 *', submit: { name: 's', ...fixture, project: i < 2 ? `pj-${tag}-0` : 'default' } });
      expect(res.status).toBe(201);
    }
    const pool = `pp-${tag}-0`;
    for (const name of names('pt')) expect((await api.post(`/api/v1/pools/${pool}/join-tokens`, { name })).status).toBe(201);
    for (const id of names('pw')) {
      await api.db.query(
        `INSERT INTO workers (id, pool, hostname, vcpus, memory_mib, state, last_heartbeat_at) VALUES ($1, $2, 'h', 4, 4096, 'ACTIVE', now())`,
        [id, `pp-${tag}-${id.at(-1)}`],
      );
    }
  });

  afterAll(async () => {
    await api?.close();
  });

  /** Every row of a list, a page of `limit` at a time, and the number of requests it took. */
  async function walk(url: string, field: string, limit: number, headers: Record<string, string> = {}, from: string | null = null): Promise<{ rows: any[]; pages: number }> {
    const rows: any[] = [];
    let cursor: string | null = from;
    let pages = 0;
    do {
      const sep = url.includes('?') ? '&' : '?';
      const res: { status: number; body: any } = await api.request('GET', `${url}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, undefined, headers);
      expect(res.status).toBe(200);
      expect(res.body[field].length).toBeLessThanOrEqual(limit);
      rows.push(...res.body[field]);
      cursor = res.body.nextCursor;
      pages++;
      expect(pages).toBeLessThan(1000);
    } while (cursor !== null);
    return { rows, pages };
  }

  const lists: [string, string, string, (row: any) => string][] = [
    ['job queues', '/api/v1/job-queues', 'jobQueues', (r) => r.name],
    ['pools', '/api/v1/pools', 'pools', (r) => r.name],
    ['projects', '/api/v1/projects', 'projects', (r) => r.name],
    ['job definitions', '/api/v1/job-definitions', 'jobDefinitions', (r) => `${r.name}:${r.revision}`],
    ['schedules', '/api/v1/schedules', 'schedules', (r) => r.name],
    ['workers', '/api/v1/workers', 'workers', (r) => r.id],
    ['join tokens', `/api/v1/pools/pp-${tag}-0/join-tokens`, 'joinTokens', (r) => r.name],
  ];

  it.each(lists)('%s: pages of 2 give every row once, in the order of one big page', async (_what, url, field, keyOf) => {
    const whole = await api.get(`${url}${url.includes('?') ? '&' : '?'}limit=1000`);
    expect(whole.status).toBe(200);
    expect(whole.body.nextCursor).toBeNull();
    const expected = whole.body[field].map(keyOf);
    expect(expected.length).toBeGreaterThanOrEqual(5);
    const { rows, pages } = await walk(url, field, 2);
    expect(rows.map(keyOf)).toEqual(expected);
    // The extra row read with each page means the last page needs no request of its own.
    expect(pages).toBe(Math.ceil(expected.length / 2));
  });

  it('the default page is 100 rows, with a cursor when there are more', async () => {
    const extra = Array.from({ length: 101 }, (_, i) => `pz-${tag}-${String(i).padStart(3, '0')}`);
    await api.db.query(`INSERT INTO projects (name) SELECT unnest($1::text[])`, [extra]);
    const res = await api.get('/api/v1/projects');
    expect(res.status).toBe(200);
    expect(res.body.projects).toHaveLength(100);
    expect(res.body.nextCursor).toEqual(expect.any(String));
  });

  it('rows added and removed between pages are neither repeated nor skipped', async () => {
    const first = await api.get(`/api/v1/pools?limit=3`);
    const seen: string[] = first.body.pools.map((p: any) => p.name);
    // A pool that sorts before the cursor appears on no later page; one after it does.
    expect((await api.post('/api/v1/pools', { name: `${seen[0]}-x` })).status).toBe(201);
    expect((await api.post('/api/v1/pools', { name: `zz-${tag}` })).status).toBe(201);
    const rest = await walk('/api/v1/pools', 'pools', 3, {}, first.body.nextCursor);
    const all = [...seen, ...rest.rows.map((p: any) => p.name)];
    expect(new Set(all).size).toBe(all.length);
    expect(all).toContain(`zz-${tag}`);
    expect(all).not.toContain(`${seen[0]}-x`);
  });

  it('a member sees only its projects\' schedules and projects, paged', async () => {
    const member = bearer((await makeKey(api, [{ project: `pj-${tag}-0`, role: 'member' }])).key);
    const schedules = await walk('/api/v1/schedules', 'schedules', 1, member);
    expect(schedules.rows.map((s: any) => s.name)).toEqual([`ps-${tag}-0`, `ps-${tag}-1`]);
    const projects = await walk('/api/v1/projects', 'projects', 1, member);
    expect(projects.rows.map((p: any) => p.name)).toEqual([`pj-${tag}-0`]);
  });

  it.each([
    ['limit 0', 'limit=0', 'limit'], ['limit 1001', 'limit=1001', 'limit'], ['limit two', 'limit=two', 'limit'], ['limit 1.5', 'limit=1.5', 'limit'],
    ['a cursor of garbage', 'cursor=not-a-cursor', 'cursor'], ['two cursors', 'cursor=x&cursor=y', 'cursor'],
    ['a 1,025-character cursor', `cursor=${'x'.repeat(1025)}`, 'cursor'],
    // A well-formed cursor of another list (a definition's) does not fit these.
    ["another list's cursor", `cursor=${Buffer.from(JSON.stringify(['name', 7])).toString('base64url')}`, 'cursor'],
    ['a cursor holding an object', `cursor=${Buffer.from(JSON.stringify([{}])).toString('base64url')}`, 'cursor'],
    ['a cursor holding a NUL', `cursor=${Buffer.from('["a\\u0000"]').toString('base64url')}`, 'cursor'],
  ])('%s is a 400 naming the parameter', async (_what, query, field) => {
    for (const url of ['/api/v1/pools', '/api/v1/job-queues', '/api/v1/workers', '/api/v1/schedules', '/api/v1/projects']) {
      const res = await api.get(`${url}?${query}`);
      // job queues' and workers' cursors are two keys, so ['name', 7] is wrong for them too.
      expect([url, res.status]).toEqual([url, 400]);
      expect(JSON.stringify(res.body)).toContain(field);
    }
  });
});
