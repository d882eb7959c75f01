import { jest } from '@jest/globals';
import { ApiHarness } from '../support/api-harness.js';
import { bearer, makeKey, routeTable, type RouteEntry } from '../support/auth-fixtures.js';
import { follow } from '../support/sse-follower.js';
import { TEST_ADMIN_KEY } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(60_000);

const NO_AUTH = { authorization: '' };
const body = (r: RouteEntry) => (r.method === 'GET' || r.method === 'DELETE' ? undefined : {});

/** Who may pass the guard for each declared access level. */
const ALLOWED: Record<string, string[]> = {
  public: ['anonymous', 'none', 'viewer', 'member', 'operator', 'admin', 'limitedAdmin'],
  read: ['viewer', 'member', 'operator', 'admin', 'limitedAdmin'],
  submit: ['member', 'operator', 'admin', 'limitedAdmin'],
  operate: ['operator', 'admin'],
  admin: ['admin'],
  // Read on every project ('*'): none of these callers but the cluster-wide operator and admin.
  observe: ['operator', 'admin'],
};

describe('authentication and roles (API, real Postgres)', () => {
  let api: ApiHarness;
  let routes: RouteEntry[];

  beforeAll(async () => {
    api = await ApiHarness.start();
    routes = routeTable(api.app);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('reads a route table that has every route, each declaring its access; only the probes are public', () => {
    expect(routes.length).toBeGreaterThan(40);
    expect(routes.find((r) => r.template === '/api/v1/jobs' && r.method === 'POST')).toBeDefined();
    expect(routes.find((r) => r.template === '/api/v1/jobs:batch' && r.method === 'POST')).toMatchObject({ access: 'submit', path: '/api/v1/jobs:batch' });
    expect(routes.filter((r) => r.access === undefined)).toEqual([]);
    // The probes, and the worker join: its credential is a pool join token, which that route checks itself.
    expect(routes.filter((r) => r.access === 'public').map((r) => r.template).sort()).toEqual(['/api/v1/workers/join', '/health/live', '/health/ready']);
  });

  it('answers 401 UNAUTHENTICATED on every route but the probes without credentials, and with a wrong key (the AWS Batch API: 403, as AWS)', async () => {
    const wrong = `gpb_testadmin_${'W'.repeat(43)}`;
    for (const r of routes.filter((x) => x.access !== 'public')) {
      for (const headers of [NO_AUTH, bearer(wrong), { authorization: TEST_ADMIN_KEY }, { authorization: 'Basic dXNlcjpwYXNz' }]) {
        const res = await api.request(r.method, r.path, body(r), headers);
        // The AWS Batch API (/v1/...) answers in AWS's error shape: the exception name in __type.
        const code = r.template.startsWith('/v1/') ? res.body?.__type : res.body?.code;
        const expected = !r.template.startsWith('/v1/') ? 'UNAUTHENTICATED'
          : headers.authorization === '' ? 'MissingAuthenticationTokenException' : 'UnrecognizedClientException';
        expect({ route: `${r.method} ${r.template}`, status: res.status, code })
          .toEqual({ route: `${r.method} ${r.template}`, status: r.template.startsWith('/v1/') ? 403 : 401, code: expected });
      }
    }
    expect((await api.request('GET', '/health/live', undefined, NO_AUTH)).status).toBe(200);
  });

  it('lets each role through exactly the routes its access level allows (every role x every route)', async () => {
    const callers: Record<string, Record<string, string>> = {
      anonymous: NO_AUTH,
      none: bearer((await makeKey(api, [])).key),
      viewer: bearer((await makeKey(api, [{ project: 'mx-a', role: 'viewer' }])).key),
      member: bearer((await makeKey(api, [{ project: 'mx-a', role: 'member' }])).key),
      operator: bearer((await makeKey(api, [{ project: '*', role: 'operator' }])).key),
      admin: bearer((await makeKey(api, [{ project: '*', role: 'admin' }])).key),
      limitedAdmin: bearer((await makeKey(api, [{ project: '*', role: 'admin' }], { project: 'mx-a' })).key),
    };
    const mismatches: string[] = [];
    for (const r of routes) {
      for (const [who, headers] of Object.entries(callers)) {
        const res = await api.request(r.method, r.path, body(r), headers);
        const allowed = ALLOWED[r.access!]!.includes(who);
        // The AWS Batch API answers 403 for a missing credential too, as AWS does.
        const expected = allowed ? 'through' : who === 'anonymous' && !r.template.startsWith('/v1/') ? 401 : 403;
        const got = res.status === 401 || res.status === 403 ? res.status : 'through';
        if (res.status >= 500) mismatches.push(`${who} ${r.method} ${r.template}: ${res.status}`);
        if (got !== expected) mismatches.push(`${who} ${r.method} ${r.template}: expected ${expected}, got ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('shows a key once, stores only its hash, records its last use, and refuses it once revoked or expired', async () => {
    const created = await api.post('/api/v1/api-keys', { name: 'ci', roles: [{ project: 'k-a', role: 'viewer' }] });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^gpb_[0-9a-f]+_[A-Za-z0-9_-]{43}$/);
    const secret = created.body.key.split('_').slice(2).join('_');
    const [row] = await api.db.query(`SELECT encode(secret_hash, 'hex') AS h FROM api_keys WHERE id = $1`, [created.body.id]);
    expect(row.h).toHaveLength(64);
    expect(JSON.stringify(await api.db.query(`SELECT * FROM api_keys WHERE id = $1`, [created.body.id]))).not.toContain(secret);

    const described = await api.get(`/api/v1/api-keys/${created.body.id}`);
    expect(described.body).toEqual(expect.objectContaining({ id: created.body.id, name: 'ci', roles: [{ project: 'k-a', role: 'viewer' }], revokedAt: null }));
    expect(described.body.key).toBeUndefined();

    expect((await api.request('GET', '/api/v1/jobs', undefined, bearer(created.body.key))).status).toBe(200);
    await waitFor('lastUsedAt', async () => (await api.get(`/api/v1/api-keys/${created.body.id}`)).body.lastUsedAt !== null, 5000);

    expect((await api.request('DELETE', `/api/v1/api-keys/${created.body.id}`)).body.revokedAt).not.toBeNull();
    expect((await api.request('GET', '/api/v1/jobs', undefined, bearer(created.body.key))).status).toBe(401);

    const expiring = await makeKey(api, [{ project: 'k-a', role: 'viewer' }], { expiresAt: new Date(Date.now() + 1500).toISOString() });
    expect((await api.request('GET', '/api/v1/jobs', undefined, bearer(expiring.key))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await api.request('GET', '/api/v1/jobs', undefined, bearer(expiring.key))).status).toBe(401);

    expect((await api.post('/api/v1/api-keys', { name: 'old', roles: [], expiresAt: '2020-01-01T00:00:00Z' })).status).toBe(400);
    expect((await api.post('/api/v1/api-keys', { name: 'bad', roles: [{ project: 'x', role: 'owner' }] })).status).toBe(400);
  });

  it('pages the key list and the role bindings', async () => {
    for (let i = 0; i < 3; i++) await makeKey(api, [{ project: `pg-${i}`, role: 'viewer' }]);
    const first = await api.get('/api/v1/api-keys?limit=2');
    expect(first.body.items).toHaveLength(2);
    const second = await api.get(`/api/v1/api-keys?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items[0].id).not.toBe(first.body.items[1].id);
    const bindings = await api.get('/api/v1/role-bindings?limit=1');
    expect(bindings.body.items).toHaveLength(1);
    expect(bindings.body.nextCursor).toEqual(expect.any(String));
  });

  it('grants and takes back roles of keys and OIDC subjects', async () => {
    const k = await makeKey(api, []);
    expect((await api.request('GET', '/api/v1/jobs', undefined, bearer(k.key))).status).toBe(403);
    expect((await api.request('PUT', '/api/v1/role-bindings', { subject: `key:${k.id}`, project: 'g-a', role: 'viewer' })).status).toBe(200);
    expect((await api.request('GET', '/api/v1/jobs', undefined, bearer(k.key))).status).toBe(200);
    expect((await api.request('DELETE', `/api/v1/role-bindings?subject=key:${k.id}&project=g-a`)).status).toBe(204);
    expect((await api.request('GET', '/api/v1/jobs', undefined, bearer(k.key))).status).toBe(403);
    expect((await api.request('PUT', '/api/v1/role-bindings', { subject: 'root', project: 'g-a', role: 'viewer' })).status).toBe(400);
  });

  it('writes every write, allowed or refused, to the audit log: who, what, answer, when, from where; admins page through it', async () => {
    const member = await makeKey(api, [{ project: 'au-a', role: 'member' }]);
    await api.request('POST', '/api/v1/job-queues', { name: 'audit-q', priority: 1 }, bearer(member.key));
    await api.request('POST', '/api/v1/jobs/nope/cancel', { reason: 'x' }, NO_AUTH);
    let entries: any[] = [];
    await waitFor('the audit rows', async () => {
      entries = (await api.get('/api/v1/audit-log?limit=50')).body.items;
      return entries.some((e) => e.path === '/api/v1/jobs/nope/cancel');
    }, 5000);
    expect(entries).toEqual(expect.arrayContaining([
      expect.objectContaining({ actor: `key:${member.id}`, method: 'POST', path: '/api/v1/job-queues', status: 403, address: '127.0.0.1' }),
      expect.objectContaining({ actor: null, method: 'POST', path: '/api/v1/jobs/nope/cancel', status: 401 }),
    ]));
    expect(Date.now() - new Date(entries[0].at).getTime()).toBeLessThan(60_000);
    const older = await api.get(`/api/v1/audit-log?limit=1&cursor=${entries[0].id}`);
    expect(Number(older.body.items[0].id)).toBeLessThan(Number(entries[0].id));
    expect((await api.request('GET', '/api/v1/audit-log', undefined, bearer(member.key))).status).toBe(403);
    expect((await api.get('/api/v1/audit-log?cursor=abc')).status).toBe(400);
  });

  it('documents the bearer scheme and the 401/403 answers in Swagger', async () => {
    const { SwaggerModule, DocumentBuilder } = await import('@nestjs/swagger');
    const { documentSecurity } = await import('../../apps/api/src/auth/swagger-security.js');
    const doc = SwaggerModule.createDocument(api.app, new DocumentBuilder().addBearerAuth({ type: 'http', scheme: 'bearer' }, 'bearer').build());
    documentSecurity(doc);
    expect(doc.components?.securitySchemes?.bearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.paths['/api/v1/jobs']!.post!.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/jobs']!.post!.responses['401']).toBeDefined();
    expect(doc.paths['/api/v1/jobs']!.post!.responses['403']).toBeDefined();
    expect(doc.paths['/health/live']!.get!.security).toEqual([]);
  });
});

describe('per-key limits (API, real Postgres)', () => {
  let api: ApiHarness;

  beforeAll(async () => {
    api = await ApiHarness.start({ RATE_LIMIT_REQUESTS: '20', RATE_LIMIT_WINDOW_SECONDS: '60', MAX_LOG_FOLLOWERS_PER_KEY: '1' });
  });

  afterAll(async () => {
    await api?.close();
  });

  it('answers 429 to a key over its rate limit, without touching other keys', async () => {
    const busy = await makeKey(api, [{ project: 'rl', role: 'viewer' }]);
    const calm = await makeKey(api, [{ project: 'rl', role: 'viewer' }]);
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) statuses.push((await api.request('GET', '/api/v1/jobs', undefined, bearer(busy.key))).status);
    expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429]);
    expect((await api.request('GET', '/api/v1/jobs', undefined, bearer(calm.key))).status).toBe(200);
  });

  it('caps the live-log followers one key holds open', async () => {
    const key = await makeKey(api, [{ project: 'lf', role: 'member' }]);
    const { queue, definition } = await api.fixture();
    const job = (await api.post('/api/v1/jobs', { name: 'waits', queue, definition, project: 'lf' })).body.jobId;
    const first = follow(`${api.baseUrl}/api/v1/jobs/${job}/logs?follow=true`, key.key);
    await new Promise((r) => setTimeout(r, 500));
    const second = await api.request('GET', `/api/v1/jobs/${job}/logs?follow=true`, undefined, bearer(key.key));
    expect(second.status).toBe(429);
    expect(second.body.code).toBe('TOO_MANY_FOLLOWERS');
    expect((await first.response).status).toBe(200);
    first.abort();
    // The slot comes back once the server sees the first stream closed.
    await waitFor('the follower slot to come back', async () => {
      const again = follow(`${api.baseUrl}/api/v1/jobs/${job}/logs?follow=true`, key.key);
      const res = await again.response;
      again.abort();
      return res.status === 200;
    }, 10_000, 200);
  });
});
