import { randomUUID } from 'node:crypto';
import { ApiHarness } from '../support/api-harness.js';
import { bearer, makeKey } from '../support/auth-fixtures.js';
import { intakeJobIds, intakeMessages } from '../support/intake.js';


describe('batch submit: POST /api/v1/jobs:batch (real API, Postgres, Redis)', () => {
  let api: ApiHarness;
  beforeAll(async () => { api = await ApiHarness.start(); });
  afterAll(async () => { await api.close(); });

  it('answers each entry: good ones committed with their events, bad ones with their error and field; one intake message', async () => {
    const f = await api.fixture();
    const res = await api.post('/api/v1/jobs:batch', {
      jobs: [
        { name: 'ok-0', queue: f.queue, definition: f.definition },
        { name: 'bad queue', queue: 'no-such-queue', definition: f.definition },
        { name: 'ok-2', queue: f.queue, definition: f.definition, priority: 5, tags: { team: 'a' } },
        { name: 'ok-3', queue: f.queue, definition: f.definition, priority: 10_000 },
        { name: 'ok-4', queue: 'no-such-queue', definition: f.definition },
        { name: 'ok-5', queue: f.queue, definition: 'no-such-definition' },
        { name: 'ok-6', queue: f.queue, definition: f.definition, overrides: { resources: { vcpus: -1 } } },
        { name: 'ok-7', queue: f.queue, definition: f.definition, surprise: true },
        'not an object',
        { name: 'ok-9', queue: f.queue, definition: f.definition, dependsOn: [{ jobId: 'no-such-job' }] },
        { name: 'ok-10', queue: f.queue, definition: f.definition },
      ],
    });
    expect(res.status).toBe(200);
    const r = res.body.results;
    expect(r.map((x: { index: number }) => x.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(res.body).toMatchObject({ submitted: 3, failed: 8 });
    expect(r[0]).toEqual({ index: 0, jobId: expect.any(String), name: 'ok-0' });
    expect(r[2]).toEqual({ index: 2, jobId: expect.any(String), name: 'ok-2' });
    expect(r[10]).toEqual({ index: 10, jobId: expect.any(String), name: 'ok-10' });
    expect(r[1].error).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', field: 'name' });
    expect(r[3].error).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', field: 'priority', message: 'priority must not be greater than 9999' });
    expect(r[4].error).toMatchObject({ statusCode: 404, code: 'JOB_QUEUE_NOT_FOUND', field: 'queue' });
    expect(r[5].error).toMatchObject({ statusCode: 404, code: 'DEFINITION_NOT_FOUND', field: 'definition' });
    expect(r[6].error).toMatchObject({ statusCode: 400, field: 'overrides.resources.vcpus', message: expect.stringMatching(/^overrides\.resources\.vcpus must not be less than/) });
    expect(r[7].error).toMatchObject({ statusCode: 400, field: 'surprise', message: 'property surprise should not exist' });
    expect(r[8].error).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    expect(r[9].error).toMatchObject({ statusCode: 400, field: 'dependsOn', message: expect.stringContaining('no-such-job') });

    const ids = [r[0].jobId, r[2].jobId, r[10].jobId];
    const rows = await api.db.query(`SELECT id, name, status, priority, tags FROM jobs WHERE queue = $1 ORDER BY name`, [f.queue]);
    expect(rows).toEqual([
      { id: ids[0], name: 'ok-0', status: 'RUNNABLE', priority: 0, tags: {} },
      { id: ids[2], name: 'ok-10', status: 'RUNNABLE', priority: 0, tags: {} },
      { id: ids[1], name: 'ok-2', status: 'RUNNABLE', priority: 5, tags: { team: 'a' } },
    ]);
    for (const id of ids) {
      const events = await api.db.query(`SELECT from_status, to_status FROM job_events WHERE job_id = $1 ORDER BY id`, [id]);
      expect(events).toEqual([{ from_status: null, to_status: 'SUBMITTED' }, { from_status: 'SUBMITTED', to_status: 'RUNNABLE' }]);
    }
    const messages = await intakeMessages(f.queue);
    expect(messages).toHaveLength(1);
    expect(intakeJobIds(messages).sort()).toEqual([...ids].sort());
  });

  it('answers each bad entry as POST /api/v1/jobs answers that body, in a batch of 1,000 whose other entries all land', async () => {
    const f = await api.fixture();
    const ok = (i: number) => ({ name: `many-${i}`, queue: f.queue, definition: f.definition, overrides: { environment: { I: String(i) } } });
    // Bodies that break a rule, nested ones included, and keys the body's walk takes out (prototype keys) before validation.
    const bad: unknown[] = [
      { ...ok(0), name: 'has space' },
      { ...ok(0), name: 7 },
      { queue: f.queue, definition: f.definition },
      { ...ok(0), overrides: { environment: { 'BAD NAME': 'x' } } },
      { ...ok(0), overrides: { resources: { gpus: 1.5, vcpus: 'x' } } },
      { ...ok(0), overrides: 'x' },
      { ...ok(0), dependsOn: [{ type: 'SOMETIMES' }, 'x'] },
      { ...ok(0), array: { size: 1 } },
      { ...ok(0), tags: { a: 1 } },
      { ...ok(0), retryStrategy: { attempts: 0, evaluateOnExit: [{ action: 'MAYBE' }] } },
      { ...ok(0), extra: { nested: true } },
      { ...ok(0), overrides: { command: [], environment: { A: 1 } } },
      { ...ok(0), constructor: 'x', overrides: { environment: { A: 'b' }, constructor: { a: 1 } } },
      { ...ok(0), clientToken: '' },
    ];
    const singles: { ok: boolean; statusCode?: number; code?: string; field?: string; message?: string; errors?: string[] }[] = [];
    for (const body of bad) {
      const res = await api.post('/api/v1/jobs', body);
      singles.push(res.status === 201 ? { ok: true } : { ok: false, statusCode: res.status, code: res.body.code, field: res.body.field, message: res.body.message, errors: res.body.errors });
    }
    // Every one of these is refused except the one whose only oddity is keys the walk strips.
    expect(singles.filter((x) => x.ok)).toHaveLength(1);
    expect(singles.every((x) => x.ok || x.statusCode === 400)).toBe(true);

    const at = (k: number) => 37 + k * 61; // spread over the batch
    const jobs: unknown[] = Array.from({ length: 1000 }, (_, i) => ok(i));
    bad.forEach((body, k) => { jobs[at(k)] = body; });
    const res = await api.post('/api/v1/jobs:batch', { jobs });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ submitted: 1000 - bad.length + 1, failed: bad.length - 1 });
    bad.forEach((_, k) => {
      const r = res.body.results[at(k)];
      const single = singles[k];
      if (single.ok) expect(r).toEqual({ index: at(k), jobId: expect.any(String), name: 'many-0' });
      else {
        // The same rule broken, in the same words; the entry also names its first field.
        expect(r).toEqual({ index: at(k), error: expect.objectContaining({ statusCode: single.statusCode, code: single.code, message: single.message, field: expect.any(String) }) });
        expect(single.message).toContain(r.error.field);
      }
    });
    const [{ n }] = await api.db.query(`SELECT count(*)::int AS n FROM jobs WHERE queue = $1 AND name LIKE 'many-%'`, [f.queue]);
    expect(n).toBe(1000 - bad.length + 1 + 1); // the batch's, and the one single submit that was accepted
    const [stored] = await api.db.query(`SELECT environment FROM jobs WHERE id = $1`, [res.body.results[5].jobId]);
    expect(stored.environment).toMatchObject({ I: '5' });
  });

  it('takes arrays, dependencies and client tokens as single submits do', async () => {
    const f = await api.fixture();
    const parent = await api.post('/api/v1/jobs', { name: 'before', queue: f.queue, definition: f.definition, clientToken: `tok-${f.queue}` });
    const res = await api.post('/api/v1/jobs:batch', {
      jobs: [
        { name: 'again', queue: f.queue, definition: f.definition, clientToken: `tok-${f.queue}` },
        { name: 'arr', queue: f.queue, definition: f.definition, array: { size: 3 } },
        { name: 'after', queue: f.queue, definition: f.definition, dependsOn: [{ jobId: parent.body.jobId }] },
        { name: 'twin-a', queue: f.queue, definition: f.definition, clientToken: `twin-${f.queue}` },
        { name: 'twin-b', queue: f.queue, definition: f.definition, clientToken: `twin-${f.queue}` },
      ],
    });
    expect(res.body.failed).toBe(0);
    const r = res.body.results;
    expect(r[0]).toEqual({ index: 0, jobId: parent.body.jobId, name: 'before' });
    expect(r[3].jobId).toBe(r[4].jobId);
    const [arr] = await api.db.query(`SELECT status, array_size, (SELECT count(*)::int FROM jobs c WHERE c.parent_id = $1) AS children FROM jobs WHERE id = $1`, [r[1].jobId]);
    expect(arr).toEqual({ status: 'PENDING', array_size: 3, children: 3 });
    const [after] = await api.db.query(`SELECT status FROM jobs WHERE id = $1`, [r[2].jobId]);
    expect(after.status).toBe('PENDING');
    expect((await api.db.query(`SELECT count(*)::int AS n FROM jobs WHERE client_token = $1`, [`twin-${f.queue}`]))[0].n).toBe(1);
  });

  it('all or nothing: one bad entry rejects the request and commits nothing', async () => {
    const f = await api.fixture();
    const res = await api.post('/api/v1/jobs:batch', {
      allOrNothing: true,
      jobs: [
        { name: 'a', queue: f.queue, definition: f.definition },
        { name: 'b', queue: f.queue, definition: f.definition, overrides: { resources: { memoryMiB: 'lots' } } },
        { name: 'c', queue: f.queue, definition: f.definition },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'BATCH_REJECTED', message: '1 of 3 entries failed; nothing was submitted (allOrNothing)' });
    expect(res.body.results).toEqual([{ index: 1, error: expect.objectContaining({ code: 'VALIDATION_FAILED', field: 'overrides.resources.memoryMiB' }) }]);

    // A failure found only while writing (a dependency that does not exist) rolls back the entries already written.
    const late = await api.post('/api/v1/jobs:batch', {
      allOrNothing: true,
      jobs: [
        { name: 'a', queue: f.queue, definition: f.definition },
        { name: 'd', queue: f.queue, definition: f.definition, dependsOn: [{ jobId: 'no-such-job' }] },
      ],
    });
    expect(late.status).toBe(400);
    expect(late.body.results).toEqual([{ index: 1, error: expect.objectContaining({ field: 'dependsOn' }) }]);
    expect((await api.db.query(`SELECT count(*)::int AS n FROM jobs WHERE queue = $1`, [f.queue]))[0].n).toBe(0);
    expect(await intakeMessages(f.queue)).toEqual([]);

    const ok = await api.post('/api/v1/jobs:batch', {
      allOrNothing: true, jobs: [{ name: 'a', queue: f.queue, definition: f.definition }, { name: 'b', queue: f.queue, definition: f.definition }],
    });
    expect(ok.body).toMatchObject({ submitted: 2, failed: 0 });
  });

  it('checks each entry\'s project against the caller, and the route\'s access', async () => {
    const f = await api.fixture();
    const A = `bp-a-${randomUUID().slice(0, 6)}`;
    const memberA = bearer((await makeKey(api, [{ project: A, role: 'member' }])).key);
    const viewerA = bearer((await makeKey(api, [{ project: A, role: 'viewer' }])).key);
    const body = { jobs: [
      { name: 'mine', queue: f.queue, definition: f.definition, project: A },
      { name: 'theirs', queue: f.queue, definition: f.definition, project: 'someone-else' },
      { name: 'default', queue: f.queue, definition: f.definition },
    ] };
    const res = await api.request('POST', '/api/v1/jobs:batch', body, memberA);
    expect(res.status).toBe(200);
    expect(res.body.results[0].jobId).toEqual(expect.any(String));
    expect(res.body.results[1].error).toMatchObject({ statusCode: 403, code: 'FORBIDDEN', field: 'project' });
    expect(res.body.results[2].error).toMatchObject({ statusCode: 403, code: 'FORBIDDEN', field: 'project' });
    expect((await api.db.query(`SELECT project FROM jobs WHERE queue = $1`, [f.queue]))).toEqual([{ project: A }]);

    expect((await api.request('POST', '/api/v1/jobs:batch', body, viewerA)).status).toBe(403);
    expect((await api.request('POST', '/api/v1/jobs:batch', body, { authorization: '' })).status).toBe(401);
    expect((await api.request('POST', '/api/v1/jobs:batch', body, bearer('gpb_nope_' + 'x'.repeat(43)))).status).toBe(401);
  });

  it('holds entries to the single-submit byte caps, and the request to 1..1000 entries and 16 MiB', async () => {
    const f = await api.fixture();
    const big = { name: 'big', queue: f.queue, definition: f.definition, tags: { blob: 'x'.repeat(256 * 1024) } };
    const res = await api.post('/api/v1/jobs:batch', { jobs: [{ name: 'small', queue: f.queue, definition: f.definition }, big] });
    expect(res.status).toBe(200);
    expect(res.body.results[0].jobId).toEqual(expect.any(String));
    expect(res.body.results[1].error).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE', field: 'jobs' });

    expect(await api.post('/api/v1/jobs:batch', { jobs: [] })).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED', message: 'jobs must hold at least 1 submit body' } });
    const tooMany = await api.post('/api/v1/jobs:batch', { jobs: Array.from({ length: 1001 }, (_, i) => ({ name: `n${i}`, queue: f.queue, definition: f.definition })) });
    expect(tooMany).toMatchObject({ status: 400, body: { message: 'jobs must hold at most 1000 submit bodies' } });
    expect((await api.post('/api/v1/jobs:batch', { jobs: 'x' })).status).toBe(400);
    const huge = await api.post('/api/v1/jobs:batch', { jobs: Array.from({ length: 80 }, () => big) });
    expect(huge).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
    // The single submit route keeps its own 256 KiB cap.
    expect((await api.post('/api/v1/jobs', { ...big, tags: { blob: 'x'.repeat(300 * 1024) } })).status).toBe(413);
  });

  it('holds the whole batch to SUBMIT_MAX_BYTES', async () => {
    const small = await ApiHarness.start({ SUBMIT_MAX_BYTES: '4096' });
    try {
      const f = await small.fixture();
      const entry = (i: number) => ({ name: `e${i}`, queue: f.queue, definition: f.definition, tags: { pad: 'p'.repeat(600) } });
      const res = await small.post('/api/v1/jobs:batch', { jobs: Array.from({ length: 6 }, (_, i) => entry(i)) });
      expect(res.status).toBe(200);
      const ok = res.body.results.filter((x: { jobId?: string }) => x.jobId);
      expect(ok.length).toBeGreaterThan(0);
      expect(ok.length).toBeLessThan(6);
      for (const x of res.body.results.filter((y: { error?: unknown }) => y.error)) {
        expect(x.error).toMatchObject({ statusCode: 400, field: 'jobs', message: expect.stringContaining('SUBMIT_MAX_BYTES') });
      }
    } finally {
      await small.close();
    }
  });
});
