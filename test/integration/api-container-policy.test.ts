import { randomBytes, randomUUID } from 'node:crypto';
import { SecretBox } from '#libs/config';
import { ApiHarness } from '../support/api-harness.js';
import { testEnv } from '../support/test-env.js';

const KEY = randomBytes(32).toString('base64');

/** Pool container policies, what job input may ask within them, secrets through the API, and the submit limits. */
describe('container policy and secrets through the API', () => {
  let api: ApiHarness;
  let keyless: ApiHarness;
  const fresh = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
  const define = (body: Record<string, unknown>, via = api) => via.post('/api/v1/job-definitions', {
    name: fresh('def'), image: testEnv().testImage, command: ['true'], resources: { vcpus: 0.25, memoryMiB: 1024 }, ...body,
  });

  beforeAll(async () => {
    api = await ApiHarness.start({ GPUBATCH_SECRET_KEY: KEY, SUBMIT_MAX_BYTES: '200000' });
    keyless = await ApiHarness.start();
  });
  afterAll(async () => {
    await api.close();
    await keyless.close();
  });

  /** A pool with the given policy and a queue that places only there. */
  async function strictQueue(policy: Record<string, unknown>): Promise<{ pool: string; queue: string }> {
    const pool = fresh('pool');
    expect((await api.post('/api/v1/pools', { name: pool })).status).toBe(201);
    const patched = await api.request('PATCH', `/api/v1/pools/${pool}/container-policy`, policy);
    expect(patched.status).toBe(200);
    const queue = fresh('q');
    expect((await api.post('/api/v1/job-queues', { name: queue, priority: 1, pools: [pool] })).status).toBe(201);
    return { pool, queue };
  }

  it('gives a new pool the safe defaults, and admins change them', async () => {
    const pool = fresh('pool');
    const created = await api.post('/api/v1/pools', { name: pool });
    expect(created.body.containerPolicy).toEqual({
      pidsLimit: 4096, nofileLimit: 16384, logMaxBytes: 104857600, allowedCapabilities: [], maxShmMiB: 8192,
      allowRootUser: true, requireReadonlyRootFs: false, allowedRegistries: null, allowedHostPaths: [], allowMultiNode: false,
    });
    const patched = await api.request('PATCH', `/api/v1/pools/${pool}/container-policy`, {
      pidsLimit: 512, allowedCapabilities: ['SYS_PTRACE'], allowRootUser: false, allowedRegistries: ['Registry.Example.com'],
    });
    expect(patched.status).toBe(200);
    expect(patched.body.containerPolicy).toMatchObject({ pidsLimit: 512, allowedCapabilities: ['SYS_PTRACE'], allowRootUser: false, allowedRegistries: ['registry.example.com'], maxShmMiB: 8192 });
    expect((await api.get(`/api/v1/pools/${pool}`)).body.containerPolicy.pidsLimit).toBe(512);
    // The pool's ordinary PATCH (prices) does not take policy fields.
    expect((await api.request('PATCH', `/api/v1/pools/${pool}`, { pidsLimit: 100000 })).status).toBe(400);
  });

  it.each([
    [{ pidsLimit: 4 }, 'pidsLimit must not be less than 16'],
    [{ pidsLimit: 'many' }, 'pidsLimit must be an integer'],
    [{ allowedCapabilities: ['SYS_ADMIN'] }, 'allowedCapabilities may hold only'],
    [{ allowRootUser: 'no' }, 'allowRootUser must be true or false'],
    [{ allowedRegistries: ['not a host'] }, 'allowedRegistries entries must be registry hosts'],
    [{ privileged: true }, 'property privileged should not exist'],
  ])('refuses a bad policy %j with a 400 naming the field', async (body, message) => {
    const pool = fresh('pool');
    await api.post('/api/v1/pools', { name: pool });
    const res = await api.request('PATCH', `/api/v1/pools/${pool}/container-policy`, body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain(message);
  });

  it('job input cannot loosen the policy: shm beyond the pool max, root where the pool forbids it, a capability it does not allow, another registry', async () => {
    const { pool, queue } = await strictQueue({ maxShmMiB: 128, allowRootUser: false, allowedRegistries: ['docker.io'] });
    const submit = async (definition: Record<string, unknown>) => {
      const d = await define(definition);
      expect(d.status).toBe(201);
      return api.post('/api/v1/jobs', { name: 'j', queue, definition: d.body.name });
    };
    const shm = await submit({ shmSizeMiB: 512, user: '1000' });
    expect(shm.status).toBe(400);
    expect(shm.body.message).toMatch(new RegExp(`shmSizeMiB must be at most 128 \\(the maxShmMiB of pool ${pool}\\), got 512`));
    const root = await submit({ user: '0' });
    expect(root.status).toBe(400);
    expect(root.body.message).toMatch(/user must be a numeric uid\[:gid\] other than 0 .* got "0"/);
    const noUser = await submit({});
    expect(noUser.status).toBe(400);
    expect(noUser.body.message).toContain('user is required by pool');
    // SYS_PTRACE: another pool allows it, this queue's pool does not.
    const lenient = fresh('pool');
    await api.post('/api/v1/pools', { name: lenient });
    expect((await api.request('PATCH', `/api/v1/pools/${lenient}/container-policy`, { allowedCapabilities: ['SYS_PTRACE'] })).status).toBe(200);
    const cap = await submit({ user: '1000', linuxCapabilities: ['SYS_PTRACE'] });
    expect(cap.status).toBe(400);
    expect(cap.body.message).toContain(`linuxCapabilities SYS_PTRACE not allowed by pool ${pool} (allowed: none)`);
    // A request no pool allows is refused when the definition is registered.
    const nowhere = await define({ linuxCapabilities: ['NET_RAW'] });
    expect(nowhere.status).toBe(400);
    expect(nowhere.body.message).toMatch(/linuxCapabilities NET_RAW not allowed by pool .* \(and no pool allows it\)$/);
    const ok = await submit({ user: '1000:1000', shmSizeMiB: 128, readonlyRootFilesystem: true });
    expect(ok.status).toBe(201);
    const job = await api.get(`/api/v1/jobs/${ok.body.jobId}`);
    expect(job.body.containerProperties).toEqual({ user: '1000:1000', shmSizeMiB: 128, readonlyRootFilesystem: true });
  });

  it('validates what a definition asks for, naming the field', async () => {
    for (const [body, message] of [
      [{ shmSizeMiB: 0 }, 'shmSizeMiB must not be less than 1'],
      [{ user: 'root; rm -rf /' }, 'user must be uid[:gid] or name[:group]'],
      [{ linuxCapabilities: ['SYS_ADMIN'] }, 'linuxCapabilities may hold only'],
      [{ privileged: true }, 'property privileged should not exist'],
      [{ devices: ['/dev/mem'] }, 'property devices should not exist'],
      [{ secretEnvironment: { GPUBATCH_JOB_ID: 'x' } }, 'secretEnvironment must be an object'],
      [{ environment: { A: '1' }, secretEnvironment: { A: '2' } }, 'secretEnvironment names A, also in environment'],
      [{ shmSizeMiB: 2048, resources: { vcpus: 0.25, memoryMiB: 1024 } }, "shmSizeMiB must not exceed the job's memoryMiB"],
    ] as const) {
      const res = await define(body as Record<string, unknown>);
      expect([res.status, JSON.stringify(res.body)]).toEqual([400, expect.stringContaining(message)]);
    }
  });

  it('keeps secret values sealed in Postgres and out of every API response', async () => {
    const value = `sv-${randomUUID()}`;
    const override = `ov-${randomUUID()}`;
    const d = await define({ secretEnvironment: { API_TOKEN: value }, environment: { PLAIN: 'p' } });
    expect(d.status).toBe(201);
    expect(d.body.secrets).toEqual([{ name: 'API_TOKEN', secret: true }]);
    expect(d.body.environment).toEqual({ PLAIN: 'p' });
    const q = await api.post('/api/v1/job-queues', { name: fresh('q'), priority: 1 });
    const sub = await api.post('/api/v1/jobs', {
      name: 'secretive', queue: q.body.name, definition: d.body.name, overrides: { secretEnvironment: { EXTRA: override } }, array: { size: 2 },
    });
    expect(sub.status).toBe(201);
    const responses = [
      d, sub, await api.get(`/api/v1/job-definitions/${d.body.name}`), await api.get(`/api/v1/job-definitions?name=${d.body.name}`),
      await api.get(`/api/v1/jobs/${sub.body.jobId}`), await api.get(`/api/v1/jobs/${sub.body.jobId}:1`), await api.get('/api/v1/jobs?limit=50'),
    ];
    for (const r of responses) {
      expect(JSON.stringify(r.body)).not.toContain(value);
      expect(JSON.stringify(r.body)).not.toContain(override);
    }
    expect((await api.get(`/api/v1/jobs/${sub.body.jobId}:1`)).body.secrets).toEqual([{ name: 'API_TOKEN', secret: true }, { name: 'EXTRA', secret: true }]);
    // Sealed at rest, and only under this key.
    const [row] = await api.db.query(`SELECT secret_environment, environment, container FROM jobs WHERE id = $1`, [`${sub.body.jobId}:1`]);
    expect(JSON.stringify(row)).not.toContain(value);
    expect(SecretBox.fromEnv(KEY)!.decryptAll(row.secret_environment)).toEqual({ API_TOKEN: value, EXTRA: override });
  });

  it('refuses secrets when the API has no key, naming the field and the variable', async () => {
    const res = await define({ secretEnvironment: { TOKEN: 'x' } }, keyless);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('secretEnvironment needs GPUBATCH_SECRET_KEY to be set on the API (32 bytes, base64); none is configured');
  });

  it('caps the bytes a submit can create, array children included', async () => {
    const d = await define({ environment: { BLOB: 'x'.repeat(1000) } });
    const q = await api.post('/api/v1/job-queues', { name: fresh('q'), priority: 1 });
    expect((await api.post('/api/v1/jobs', { name: 'one', queue: q.body.name, definition: d.body.name })).status).toBe(201);
    const big = await api.post('/api/v1/jobs', { name: 'many', queue: q.body.name, definition: d.body.name, array: { size: 500 } });
    expect(big.status).toBe(400);
    expect(big.body.message).toMatch(/the submit would create about \d+ bytes of jobs \(500 array children of \d+ bytes each\); the limit is 200000 \(SUBMIT_MAX_BYTES\)/);
  });

  it('refuses a cron schedule that fires more often than the minimum interval, and secrets in a stored submit body', async () => {
    const f = await api.fixture();
    const fast = await api.post('/api/v1/schedules', { name: fresh('s'), cron: '*/30 * * * * *', submit: { name: 't', queue: f.queue, definition: f.definition } });
    expect(fast.status).toBe(400);
    expect(fast.body.message).toBe('cron "*/30 * * * * *" fires every 30 s at times; the minimum interval is 60 s (SCHEDULE_MIN_INTERVAL_SECONDS)');
    const secret = await api.post('/api/v1/schedules', {
      name: fresh('s'), cron: '0 3 * * *', submit: { name: 't', queue: f.queue, definition: f.definition, overrides: { secretEnvironment: { A: 'b' } } },
    });
    expect(secret.status).toBe(400);
    expect(secret.body.message).toContain('submit.overrides.secretEnvironment must not be set');
  });

  it('mounts: host paths only under a prefix the pool allows (400 outside it and for ..), named volumes, tmpfs; each field named', async () => {
    const root = `/srv/${fresh('data')}`;
    const { pool, queue } = await strictQueue({ allowedHostPaths: [`${root}/sets/`, root] });
    expect((await api.get(`/api/v1/pools/${pool}`)).body.containerPolicy.allowedHostPaths).toEqual([root, `${root}/sets`]);
    for (const bad of [['relative'], ['/a/../b']]) {
      const res = await api.request('PATCH', `/api/v1/pools/${pool}/container-policy`, { allowedHostPaths: bad });
      expect([res.status, res.body.message]).toEqual([400, expect.stringMatching(/^allowedHostPaths\[0\] must/)]);
    }

    const ok = await define({ mounts: [
      { type: 'host', source: `${root}/sets/imagenet/`, target: '/in', readOnly: true },
      { type: 'volume', source: 'cache', target: '/cache' },
      { type: 'tmpfs', target: '/scratch', sizeMiB: 64 },
    ] });
    expect(ok.status).toBe(201);
    expect(ok.body.containerProperties.mounts).toEqual([
      { type: 'host', source: `${root}/sets/imagenet`, target: '/in', readOnly: true },
      { type: 'volume', source: 'cache', target: '/cache', readOnly: false },
      { type: 'tmpfs', target: '/scratch', sizeMiB: 64 },
    ]);
    expect((await api.post('/api/v1/jobs', { name: 'mounts', queue, definition: ok.body.name })).status).toBe(201);

    const refused = async (mounts: object[]) => (await define({ mounts })).body;
    expect(await refused([{ type: 'host', source: '/etc', target: '/in' }])).toMatchObject({
      statusCode: 400, message: expect.stringMatching(/^mounts\[0\]\.source \/etc is not under a host path pool .* allows/),
    });
    expect((await refused([{ type: 'host', source: `${root}/../../etc`, target: '/in' }])).message).toBe('mounts[0].source must not contain ".." segments');
    expect((await refused([{ type: 'volume', source: '../x', target: '/v' }])).message).toContain('mounts[0].source must be a volume name');
    expect((await refused([{ type: 'tmpfs', target: '/t' }])).message).toBe('mounts[0].sizeMiB is required for a tmpfs');
    expect((await refused([{ type: 'nfs', source: 'x', target: '/t' }])).message).toContain('type must be one of host, volume, tmpfs');
    expect((await refused([{ type: 'volume', source: 'v', target: '/proc/x' }])).message).toContain('must not be /, /proc, /sys or /dev');

    // A queue whose pools do not allow the path refuses the submit, naming the definition's field.
    const other = await strictQueue({});
    const sub = await api.post('/api/v1/jobs', { name: 'x', queue: other.queue, definition: ok.body.name });
    expect([sub.status, sub.body.message]).toEqual([400, expect.stringContaining(`definition ${ok.body.name}:1 mounts[0].source`)]);
  });
});
