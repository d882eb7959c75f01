import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Through the three built apps and a real container: the job's container
 * shows its pool's hardening in docker inspect, and a secret reaches the
 * container but no API response, no process log, no Postgres column but the
 * sealed one, and nothing in Redis after the run.
 */
describe('end to end: hardened containers and secrets', () => {
  const secret = `s3cret-${randomUUID()}`;
  const worker = `sec-${randomUUID().slice(0, 8)}`;
  let db: DataSource;
  let cluster: LocalCluster;
  let call: ApiCall;

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    ({ cluster, call } = await startCluster({}, { GPUBATCH_SECRET_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'trace' }));
    cluster.start('worker', {
      WORKER_ID: worker, WORKER_POOL: 'sec', WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024', WORKER_GPUS: 'none',
      JOB_NETWORK_MODE: 'none', JOB_STOP_GRACE_SECONDS: '1', WORKER_HEARTBEAT_MS: '500',
    }, worker);
    await waitFor('the worker to join', async () => (await call('GET', `/api/v1/workers/${worker}`)).body?.state === 'ACTIVE', 30_000, 100);
    expect((await call('POST', '/api/v1/pools', { name: 'sec' })).status).toBe(201);
    expect((await call('PATCH', '/api/v1/pools/sec/container-policy', { pidsLimit: 128, nofileLimit: 2048, allowRootUser: false, maxShmMiB: 256 })).status).toBe(200);
    expect((await call('POST', '/api/v1/job-queues', { name: 'sec', priority: 1, pools: ['sec'] })).status).toBe(201);
  });

  afterAll(async () => {
    await cluster?.stop();
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=gpubatch.worker-id=${worker}`]).toString().split('\n').filter(Boolean);
    if (left.length) execFileSync('docker', ['rm', '-f', ...left]);
    await db?.destroy();
  });

  it('runs the job hardened, with its secret inside the container only', async () => {
    const def = await call('POST', '/api/v1/job-definitions', {
      name: 'secretive', image: testEnv().testImage, resources: { vcpus: 0.25, memoryMiB: 256 },
      // The value is never in the command: the job prints its hash, then sleeps long enough to be inspected.
      command: ['sh', '-c', 'printf %s "$SECRET_VALUE" | sha256sum | cut -d" " -f1; id -u; sleep 2'],
      secretEnvironment: { SECRET_VALUE: secret }, user: '1000:1000', shmSizeMiB: 128, readonlyRootFilesystem: true,
    });
    expect(def.status).toBe(201);
    const sub = await call('POST', '/api/v1/jobs', { name: 'secretive', queue: 'sec', definition: 'secretive' });
    expect(sub.status).toBe(201);
    const id = sub.body.jobId as string;

    // docker inspect of the job's container, while it runs.
    const containerId = await waitFor('the container', () =>
      execFileSync('docker', ['ps', '-q', '--filter', `label=gpubatch.job-id=${id}`]).toString().trim() || undefined, 30_000, 100);
    const [inspected] = JSON.parse(execFileSync('docker', ['inspect', containerId]).toString());
    expect(inspected.HostConfig).toMatchObject({
      Privileged: false, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'], PidsLimit: 128,
      Ulimits: [{ Name: 'nofile', Soft: 2048, Hard: 2048 }], ShmSize: 128 * 2 ** 20, ReadonlyRootfs: true, NetworkMode: 'none',
      LogConfig: { Type: 'json-file', Config: { 'max-size': String(50 * 2 ** 20), 'max-file': '2' } },
    });
    expect(inspected.Config.User).toBe('1000:1000');
    expect(inspected.Config.Env).toContain(`SECRET_VALUE=${secret}`);

    const done = await waitFor('the job to finish', async () => {
      const { body } = await call('GET', `/api/v1/jobs/${id}`);
      return ['SUCCEEDED', 'FAILED'].includes(body.status) ? body : undefined;
    }, 60_000, 200);
    expect(done.status).toBe('SUCCEEDED');
    const logs = await call('GET', `/api/v1/jobs/${id}/logs`);
    const lines = JSON.stringify(logs.body);
    expect(lines).toContain(createHash('sha256').update(secret).digest('hex'));
    expect(lines).toContain('1000');

    // Every API response.
    const responses = [
      def, sub, { body: done }, logs, await call('GET', '/api/v1/job-definitions/secretive'), await call('GET', '/api/v1/job-definitions?name=secretive'),
      await call('GET', '/api/v1/jobs?queue=sec'), await call('GET', `/api/v1/workers/${worker}`), await call('GET', '/api/v1/pools/sec'),
    ];
    for (const r of responses) expect(JSON.stringify(r.body)).not.toContain(secret);
    expect(done.secrets).toEqual([{ name: 'SECRET_VALUE', secret: true }]);

    // The processes' logs (at trace level).
    await new Promise((r) => setTimeout(r, 500));
    const output = cluster.processes.flatMap((p) => p.output).join('');
    expect(output.length).toBeGreaterThan(0);
    expect(output).not.toContain(secret);

    // Postgres: a full dump of the test database holds it only sealed.
    const dump = execFileSync('pg_dump', ['--data-only', testEnv().databaseUrl], { maxBuffer: 256 * 2 ** 20 }).toString();
    expect(dump).toContain('SECRET_VALUE');
    expect(dump).not.toContain(secret);

    // Redis: every key of the test database, whatever its type.
    const redis = new Redis(testEnv().redisUrl);
    try {
      const everything: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          const type = await redis.type(key);
          const value = type === 'string' ? await redis.get(key)
            : type === 'hash' ? await redis.hgetall(key)
            : type === 'list' ? await redis.lrange(key, 0, -1)
            : type === 'set' ? await redis.smembers(key)
            : type === 'zset' ? await redis.zrange(key, 0, -1)
            : type === 'stream' ? await redis.xrange(key, '-', '+')
            : null;
          everything.push(key, JSON.stringify(value));
        }
      } while (cursor !== '0');
      const all = everything.join('\n');
      // The dispatch entry is still there (dedupe), with the secret's name and not its value.
      expect(all).toContain('"secretNames\\":[\\"SECRET_VALUE\\"]');
      expect(all).not.toContain(secret);
    } finally {
      redis.disconnect();
    }
  });
});
