import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const POOL = 'reg';
const WORKER = 'reg-worker';
const USER = 'puller';
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

/**
 * A private registry with basic auth (Debian's docker-registry) on this
 * machine, the test image pushed to it: jobs pull it with their project's
 * (or their pool's) credentials, and fail saying why without them.
 */
describe('end to end: private registries', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let call: ApiCall;
  let registryProcess: ChildProcess;
  let registry: string;
  const dir = mkdtempSync(join(tmpdir(), 'gpubatch-registry-'));
  const dockerConfig = join(dir, 'docker');

  const docker = (...args: string[]) => execFileSync('docker', args, { env: { ...process.env, DOCKER_CONFIG: dockerConfig }, stdio: 'pipe' }).toString();
  const finished = (id: string) => waitFor(`job ${id} to finish`, async () => {
    const { body } = await call('GET', `/api/v1/jobs/${id}`);
    return ['SUCCEEDED', 'FAILED'].includes(body.status) ? body : undefined;
  }, 60_000, 200);
  const submit = async (definition: string, project?: string) =>
    (await call('POST', '/api/v1/jobs', { name: definition, queue: POOL, definition, ...(project ? { project } : {}) })).body.jobId as string;
  const define = async (name: string, image: string) => {
    const res = await call('POST', '/api/v1/job-definitions', { name, image, command: ['echo', 'pulled'], resources: { vcpus: 0.25, memoryMiB: 64 }, pullPolicy: 'always' });
    expect(res.status).toBe(201);
  };

  beforeAll(async () => {
    const port = await LocalCluster.freePort();
    registry = `127.0.0.1:${port}`;
    execFileSync('htpasswd', ['-Bbc', join(dir, 'htpasswd'), USER, PASSWORD], { stdio: 'ignore' });
    writeFileSync(join(dir, 'config.yml'), [
      'version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`,
      'http:', `  addr: ${registry}`, 'auth:', '  htpasswd:', '    realm: gpubatch-test', `    path: ${join(dir, 'htpasswd')}`,
    ].join('\n'));
    registryProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    await waitFor('the registry', async () => (await fetch(`http://${registry}/v2/`).catch(() => undefined))?.status === 401, 30_000, 100);
    // Pushed, then untagged here: the worker must pull it (the test image itself stays).
    execFileSync('docker', ['login', registry, '-u', USER, '--password-stdin'], { input: PASSWORD, env: { ...process.env, DOCKER_CONFIG: dockerConfig }, stdio: ['pipe', 'ignore', 'ignore'] });
    docker('tag', testEnv().testImage, `${registry}/team/app:1`);
    docker('push', `${registry}/team/app:1`);
    docker('rmi', `${registry}/team/app:1`);

    db = await openTestDatabase();
    await resetState(db);
    ({ cluster, call } = await startCluster({}, { GPUBATCH_SECRET_KEY: randomBytes(32).toString('base64') }));
    cluster.start('worker', {
      WORKER_ID: WORKER, WORKER_POOL: POOL, WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024', WORKER_GPUS: 'none', JOB_NETWORK_MODE: 'none',
    }, WORKER);
    await waitFor('the worker to join', async () => (await call('GET', `/api/v1/workers/${WORKER}`)).body?.state === 'ACTIVE', 30_000, 100);
    expect((await call('POST', '/api/v1/pools', { name: POOL })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-queues', { name: POOL, priority: 1, pools: [POOL] })).status).toBe(201);
    await define('private', `${registry}/team/app:1`);
    await define('missing-tag', `${registry}/team/app:9`);
    await define('unreachable', `127.0.0.1:${await LocalCluster.freePort()}/team/app:1`);
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    registryProcess?.kill();
    try {
      docker('rmi', `${registry}/team/app:1`);
    } catch {
      // not pulled: the test failed before
    }
    rmSync(dir, { recursive: true, force: true });
    await db?.destroy();
  });

  it('without credentials the pull fails as auth; with the project\'s it runs; the password is never returned', async () => {
    const denied = await finished(await submit('private', 'team-a'));
    expect(denied.status).toBe('FAILED');
    expect(denied.statusReason).toMatch(/^CannotPullContainerError: auth \(the registry refused the credentials: none given, or wrong\): .*no basic auth credentials/);

    const put = await call('PUT', `/api/v1/projects/team-a/registry-credentials/${registry}`, { username: USER, password: PASSWORD });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ scope: 'project', owner: 'team-a', registry, username: USER, updatedAt: expect.any(String) });
    const listed = await call('GET', '/api/v1/projects/team-a/registry-credentials');
    expect(JSON.stringify(listed.body)).not.toContain(PASSWORD);
    const [row] = await db.query(`SELECT sealed_password FROM registry_credentials WHERE owner = 'team-a'`);
    expect(row.sealed_password).toMatch(/^v2:[0-9a-f]{8}:/);
    expect(row.sealed_password).not.toContain(PASSWORD);

    const pulled = await submit('private', 'team-a');
    const done = await finished(pulled);
    expect(done).toMatchObject({ status: 'SUCCEEDED' });
    // While it pulled, the job's reason said so.
    expect(done.events).toEqual(expect.arrayContaining([
      expect.objectContaining({ from: 'STARTING', to: 'STARTING', reason: `Pulling image ${registry}/team/app:1 on worker ${WORKER}` }),
    ]));
    expect((await call('GET', `/api/v1/jobs/${pulled}/logs`)).body.lines.map((l: { text: string }) => l.text)).toEqual(['pulled']);
    // Another project does not get team-a's credentials.
    expect((await finished(await submit('private', 'team-b'))).statusReason).toMatch(/^CannotPullContainerError: auth /);
  });

  it("uses the pool's credentials for projects without their own, and says not found or network when that is why", async () => {
    expect((await call('PUT', `/api/v1/pools/${POOL}/registry-credentials/${registry}`, { username: USER, password: PASSWORD })).status).toBe(200);
    expect(await finished(await submit('private', 'team-c'))).toMatchObject({ status: 'SUCCEEDED' });
    expect((await finished(await submit('missing-tag', 'team-c'))).statusReason).toMatch(/^CannotPullContainerError: not found \(/);
    expect((await finished(await submit('unreachable', 'team-c'))).statusReason).toMatch(/^CannotPullContainerError: network \(/);
  });
});
