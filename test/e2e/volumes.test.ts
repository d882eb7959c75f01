import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import type { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const POOL = 'vol';
const WORKER = `vol-${randomUUID().slice(0, 8)}`;

/**
 * Volumes through the three built apps and real containers: a host path the
 * pool allows, a named volume one job writes and a later one reads, tmpfs
 * and /dev/shm sizes; a path outside the allowlist is a 400, and a symlink
 * that escapes it is caught by the worker.
 */
describe('end to end: volumes and mounts', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let call: ApiCall;
  const volume = `shared-${randomUUID().slice(0, 8)}`;
  const root = mkdtempSync(join(tmpdir(), 'gpubatch-volumes-'));
  const allowed = join(root, 'allowed');

  const finished = (id: string) => waitFor(`job ${id} to finish`, async () => {
    const { body } = await call('GET', `/api/v1/jobs/${id}`);
    return ['SUCCEEDED', 'FAILED'].includes(body.status) ? body : undefined;
  }, 60_000, 200);
  const logs = async (id: string) => (await call('GET', `/api/v1/jobs/${id}/logs`)).body.lines.map((l: { text: string }) => l.text);
  const define = async (name: string, command: string, mounts: object[], extra: object = {}) =>
    call('POST', '/api/v1/job-definitions', { name, image: testEnv().testImage, command: ['sh', '-c', command], resources: { vcpus: 0.25, memoryMiB: 128 }, mounts, ...extra });
  const run = async (definition: string) => (await call('POST', '/api/v1/jobs', { name: definition, queue: POOL, definition })).body.jobId as string;

  beforeAll(async () => {
    mkdirSync(join(allowed, 'data'), { recursive: true });
    writeFileSync(join(allowed, 'data', 'in.txt'), 'hello from the host\n');
    mkdirSync(join(root, 'private'));
    writeFileSync(join(root, 'private', 'secret.txt'), 'not for jobs\n');
    symlinkSync(join(root, 'private'), join(allowed, 'escape'));
    db = await openTestDatabase();
    await resetState(db);
    ({ cluster, call } = await startCluster());
    cluster.start('worker', {
      WORKER_ID: WORKER, WORKER_POOL: POOL, WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024', WORKER_GPUS: 'none', JOB_NETWORK_MODE: 'none',
    }, WORKER);
    await waitFor('the worker to join', async () => (await call('GET', `/api/v1/workers/${WORKER}`)).body?.state === 'ACTIVE', 30_000, 100);
    expect((await call('POST', '/api/v1/pools', { name: POOL })).status).toBe(201);
    expect((await call('PATCH', `/api/v1/pools/${POOL}/container-policy`, { allowedHostPaths: [allowed] })).status).toBe(200);
    expect((await call('POST', '/api/v1/job-queues', { name: POOL, priority: 1, pools: [POOL] })).status).toBe(201);
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=gpubatch.worker-id=${WORKER}`]).toString().split('\n').filter(Boolean);
    if (left.length) execFileSync('docker', ['rm', '-f', ...left]);
    try {
      execFileSync('docker', ['volume', 'rm', `gpubatch.default.${volume}`], { stdio: 'ignore' });
    } catch {
      // never created: the test failed before the writer ran
    }
    rmSync(root, { recursive: true, force: true });
    await db?.destroy();
  });

  it('a job reads an allowed host path (read-only) and writes a named volume that a later job reads', async () => {
    expect((await define('writer', 'cat /in/in.txt > /out/result.txt && echo wrote; touch /in/x 2>/dev/null && echo host-writable || echo host-read-only', [
      { type: 'host', source: join(allowed, 'data'), target: '/in', readOnly: true },
      { type: 'volume', source: volume, target: '/out' },
    ])).status).toBe(201);
    const writer = await run('writer');
    expect(await finished(writer)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await logs(writer)).toEqual(['wrote', 'host-read-only']);

    expect((await define('reader', 'cat /data/result.txt', [{ type: 'volume', source: volume, target: '/data', readOnly: true }])).status).toBe(201);
    const reader = await run('reader');
    expect(await finished(reader)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await logs(reader)).toEqual(['hello from the host']);
    // The volume is the project's: Docker knows it by the per-project name.
    expect(execFileSync('docker', ['volume', 'ls', '-q', '--filter', `name=gpubatch.default.${volume}`]).toString().trim()).toBe(`gpubatch.default.${volume}`);
  });

  it('sizes tmpfs and /dev/shm as asked', async () => {
    expect((await define('sizes', 'grep -E " /(scratch|dev/shm) " /proc/mounts | sed -E "s/.*(size=[0-9]+k).*/\\1/"', [
      { type: 'tmpfs', target: '/scratch', sizeMiB: 16 },
    ], { shmSizeMiB: 32 })).status).toBe(201);
    const id = await run('sizes');
    expect(await finished(id)).toMatchObject({ status: 'SUCCEEDED' });
    expect((await logs(id)).sort()).toEqual(['size=16384k', 'size=32768k']);
  });

  it('refuses a host path outside the allowlist with 400, and the worker fails a symlink that escapes it', async () => {
    const outside = await define('outside', 'cat /in/secret.txt', [{ type: 'host', source: join(root, 'private'), target: '/in', readOnly: true }]);
    expect(outside.status).toBe(400);
    expect(outside.body.message).toMatch(new RegExp(`^mounts\\[0\\]\\.source ${join(root, 'private')} is not under a host path pool \\S+ allows .*\\(and no pool allows it\\)$`));
    const dotdot = await define('dotdot', 'true', [{ type: 'host', source: `${allowed}/../private`, target: '/in', readOnly: true }]);
    expect([dotdot.status, dotdot.body.message]).toEqual([400, 'mounts[0].source must not contain ".." segments']);

    // Lexically inside the allowed directory, so the API accepts it; the worker resolves the link and refuses.
    expect((await define('escape', 'cat /in/secret.txt', [{ type: 'host', source: join(allowed, 'escape'), target: '/in', readOnly: true }])).status).toBe(201);
    const id = await run('escape');
    const done = await finished(id);
    expect(done).toMatchObject({
      status: 'FAILED',
      statusReason: `CannotStartContainerError: host path ${join(allowed, 'escape')} resolves to ${join(root, 'private')}, outside the host paths this pool allows (a symlink escapes them)`,
    });
    expect(await logs(id)).toEqual([]);
  });
});
