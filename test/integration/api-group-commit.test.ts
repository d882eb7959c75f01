import { ApiHarness } from '../support/api-harness.js';
import { testEnv } from '../support/test-env.js';
import { intakeJobIds, intakeMessages } from '../support/intake.js';
import { waitFor } from '../support/wait-for.js';

describe('group commit of single submits, and the catalog cache (real API, Postgres, Redis)', () => {
  let api: ApiHarness;
  beforeAll(async () => { api = await ApiHarness.start({ SUBMIT_GROUP_WINDOW_MS: '5' }); });
  afterAll(async () => { await api.close(); });

  it('commits every concurrent submit, each before its own 201, sharing INSERTs and intake messages', async () => {
    const f = await api.fixture();
    const n = 120;
    const seenAtReply = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const res = await api.post('/api/v1/jobs', { name: `g-${i}`, queue: f.queue, definition: f.definition, priority: i % 3 });
      expect(res.status).toBe(201);
      // Read on another connection the moment the reply arrives: the row and both events are already committed.
      const [row] = await api.db.query(`SELECT name, status, (SELECT count(*)::int FROM job_events e WHERE e.job_id = j.id) AS events FROM jobs j WHERE id = $1`, [res.body.jobId]);
      return { id: res.body.jobId as string, row };
    }));
    seenAtReply.forEach((s, i) => expect(s.row).toEqual({ name: `g-${i}`, status: 'RUNNABLE', events: 2 }));
    const ids = seenAtReply.map((s) => s.id);
    expect(new Set(ids).size).toBe(n);
    expect((await api.db.query(`SELECT count(*)::int AS n FROM jobs WHERE queue = $1`, [f.queue]))[0].n).toBe(n);

    const messages = await intakeMessages(f.queue);
    const carried = intakeJobIds(messages);
    expect(carried.sort()).toEqual([...ids].sort());
    // Grouped: fewer wake-ups than jobs (one per group commit).
    expect(messages.length).toBeLessThan(n);
    expect(messages.some((m) => (m.jobIds?.length ?? 0) > 1)).toBe(true);
  });

  it('fails only the submit Postgres refuses; the others in its group are committed once', async () => {
    const f = await api.fixture();
    const bodies = Array.from({ length: 40 }, (_, i) => ({ name: `s-${i}`, queue: f.queue, definition: f.definition, clientToken: `${f.queue}-${i}` }));
    // Valid to the validators, refused by Postgres (jsonb holds no NUL): it fails the shared INSERT.
    bodies[17] = { ...bodies[17], overrides: { environment: { BAD: 'a\u0000b' } } } as typeof bodies[number];
    const replies = await Promise.all(bodies.map((b) => api.post('/api/v1/jobs', b)));
    expect(replies[17]).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    replies.forEach((r, i) => { if (i !== 17) expect(r.status).toBe(201); });
    const rows: { name: string; n: number }[] = await api.db.query(
      `SELECT name, count(*)::int AS n FROM jobs WHERE queue = $1 GROUP BY name ORDER BY name`, [f.queue]);
    expect(rows).toHaveLength(39);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    expect(rows.some((r) => r.name === 's-17')).toBe(false);
    const [events] = await api.db.query(`SELECT count(*)::int AS n FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.queue = $1`, [f.queue]);
    expect(events.n).toBe(78);
    // Submitting the same tokens again returns the same jobs and creates nothing.
    const again = await Promise.all(bodies.filter((_, i) => i !== 17).map((b) => api.post('/api/v1/jobs', b)));
    expect(again.map((r) => r.body.jobId).sort()).toEqual(replies.filter((_, i) => i !== 17).map((r) => r.body.jobId).sort());
    expect((await api.db.query(`SELECT count(*)::int AS n FROM jobs WHERE queue = $1`, [f.queue]))[0].n).toBe(39);
  });

  it('sees a queue, definition or pool change made through another API process (catalog cache invalidation)', async () => {
    // A TTL far longer than the test: only the change notice can make the second API see the change.
    const other = await ApiHarness.start({ CATALOG_CACHE_TTL_MS: '600000' });
    try {
      const f = await api.fixture({ timeoutSeconds: 3600 });
      const submitOnOther = (extra: Record<string, unknown> = {}) => other.post('/api/v1/jobs', { name: 'c', queue: f.queue, definition: f.definition, ...extra });
      expect((await submitOnOther()).status).toBe(201); // cached there now

      expect((await api.request('PATCH', `/api/v1/job-queues/${f.queue}`, { state: 'DISABLED' })).status).toBe(200);
      await waitFor('the other API to refuse the DISABLED queue', async () => (await submitOnOther()).status === 409, 10_000);
      await api.request('PATCH', `/api/v1/job-queues/${f.queue}`, { state: 'ENABLED' });
      await waitFor('the other API to take the ENABLED queue again', async () => (await submitOnOther()).status === 201, 10_000);

      // A new revision becomes the one `name` resolves to.
      await api.post('/api/v1/job-definitions', { name: f.definition, image: testEnv().testImage, command: ['echo', 'two'], resources: { vcpus: 0.25, memoryMiB: 64 } });
      await waitFor('the other API to use revision 2', async () => {
        const res = await submitOnOther();
        return res.status === 201 && (await other.get(`/api/v1/jobs/${res.body.jobId}`)).body.definition === `${f.definition}:2`;
      }, 10_000);
      await api.request('DELETE', `/api/v1/job-definitions/${f.definition}/2`);
      await api.request('DELETE', `/api/v1/job-definitions/${f.definition}/1`);
      await waitFor('the other API to refuse the deregistered definition', async () => (await submitOnOther()).body.code === 'DEFINITION_NOT_FOUND', 10_000);

      // A pool's new price reaches the other API's cost estimate.
      // Only the default pool: other tests' pools in this database must not be the cheapest.
      const g = await api.fixture({ timeoutSeconds: 3600 }, { pools: ['default'] });
      const estimate = async () => (await other.post('/api/v1/jobs', { name: 'p', queue: g.queue, definition: g.definition })).body.estimatedMaxCost?.amount;
      const before = await estimate();
      expect((await api.request('PATCH', '/api/v1/pools/default', { prices: { vcpuHour: '4' } })).status).toBe(200);
      await waitFor('the other API to price with the new card', async () => (await estimate()) !== before, 10_000);
    } finally {
      await api.request('PATCH', '/api/v1/pools/default', { prices: { vcpuHour: '0' } });
      await other.close();
    }
  });
});
