import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { DataSource } from 'typeorm';
import { SecretBox, type WorkerConfig } from '#libs/config';
import { eventJobId, JobIds, QueueNames, RedisKeys, signReport, type AttemptExitedEvent, type WorkerEvent } from '#libs/queue';
import { startWorker, type WorkerAgent } from '../../apps/worker/src/worker-agent.js';
import { ApiHarness } from '../support/api-harness.js';
import { openTestDatabase } from '../support/database.js';
import { resetState } from '../support/reset.js';
import { startTestScheduler, type Scheduler } from '../support/scheduler-harness.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(120_000);

/**
 * The tests act as the attacker (docs/worker-security.md). A Redis of their
 * own with a password (requirepass) backs a real API, a real scheduler with
 * GPUBATCH_WORKER_AUTH=required and a real worker that joins with the
 * bootstrap join token. The thief holds another worker's credentials, obtained
 * by joining (as a stolen WORKER_JOIN_TOKEN or a stolen worker's memory would
 * give them), and talks to Redis directly.
 */
const ADMIN_PASSWORD = `admin-${randomUUID()}`;
const SECRET_KEY = randomBytes(32).toString('base64');
const BOOTSTRAP = `bootstrap-${randomUUID()}`;
const logger = pino({ level: 'silent' });

let port: number;
let server: ChildProcess;
let adminUrl: string;
let db: DataSource;
let api: ApiHarness;
let scheduler: Scheduler | undefined;
const opened: Redis[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as { port: number };
      s.close(() => resolve(p));
    });
  });
}

function connect(options: { username?: string; password?: string } = {}): Redis {
  const r = new Redis({ host: '127.0.0.1', port, ...options, maxRetriesPerRequest: 1, lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null });
  r.on('error', () => undefined);
  opened.push(r);
  return r;
}

async function join(workerId: string, token = BOOTSTRAP, pool?: string) {
  return api.request('POST', '/api/v1/workers/join', { workerId, ...(pool ? { pool } : {}) }, { authorization: `Bearer ${token}` });
}

/** The error a command gets, or 'OK' when it was allowed. */
async function attempt(r: Redis, ...args: (string | number)[]): Promise<string> {
  try {
    await r.call(String(args[0]), ...args.slice(1).map(String));
    return 'OK';
  } catch (error) {
    return (error as Error).message.split(' ')[0];
  }
}

beforeAll(async () => {
  port = await freePort();
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--maxmemory-policy', 'noeviction', '--requirepass', ADMIN_PASSWORD], { stdio: 'ignore' });
  adminUrl = `redis://:${encodeURIComponent(ADMIN_PASSWORD)}@127.0.0.1:${port}/0`;
  await waitFor('own redis-server', async () => {
    const r = new Redis(adminUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  });
  db = await openTestDatabase();
  await resetState(db);
  await db.query(`TRUNCATE worker_identities, join_tokens`);
  api = await ApiHarness.start({ REDIS_URL: adminUrl, GPUBATCH_BOOTSTRAP_JOIN_TOKEN: BOOTSTRAP, GPUBATCH_SECRET_KEY: SECRET_KEY });
});

afterAll(async () => {
  await scheduler?.stop();
  for (const r of opened) r.disconnect();
  await api?.close();
  await db?.destroy();
  server?.kill('SIGTERM');
});

describe('a process with no credentials', () => {
  it('can do nothing: every command is refused with NOAUTH', async () => {
    const nobody = connect();
    await nobody.connect();
    for (const cmd of [['PING'], ['GET', RedisKeys.schedulerLease], ['SET', RedisKeys.worker('anyone'), '{}'], ['LRANGE', `bull:${QueueNames.dispatch('w')}:wait`, 0, -1],
      ['XADD', `bull:${QueueNames.events}:events`, '*', 'a', 'b'], ['FLUSHDB'], ['CONFIG', 'GET', '*'], ['ACL', 'LIST'], ['KEYS', '*']]) {
      expect([cmd[0], await attempt(nobody, ...cmd)]).toEqual([cmd[0], 'NOAUTH']);
    }
    // And BullMQ through it cannot add to the events queue.
    const events = new Queue<WorkerEvent>(QueueNames.events, { connection: nobody });
    events.on('error', () => undefined);
    await expect(events.add('worker-changed', { type: 'worker-changed', workerId: 'x' })).rejects.toThrow(/NOAUTH/);
    await events.close().catch(() => undefined);
  });
});

describe('join tokens', () => {
  it('a worker joins with the bootstrap token for the default pool and gets its own identity', async () => {
    const res = await join(`wa-${randomUUID().slice(0, 8)}`);
    expect([res.status, res.body.message]).toEqual([200, undefined]);
    expect(res.body).toMatchObject({ pool: 'default', redisUsername: expect.stringMatching(/^gpubatch-worker-wa-/) });
    expect(res.body.redisPassword).toMatch(/^[0-9a-f]{64}$/);
    expect(res.body.signingKey).toMatch(/^[0-9a-f]{64}$/);
    const [row] = await db.query(`SELECT token_hash FROM join_tokens WHERE name = 'bootstrap'`);
    expect(row.token_hash).not.toContain(BOOTSTRAP); // stored hashed
    // The signing key is stored sealed under the secrets key, bound to the worker id: a copy of Postgres cannot sign.
    const [identity] = await db.query(`SELECT signing_key FROM worker_identities WHERE worker_id = $1`, [res.body.workerId]);
    expect(identity.signing_key).toMatch(/^v2:[0-9a-f]{8}:/);
    expect(identity.signing_key).not.toContain(res.body.signingKey);
    expect(SecretBox.fromEnv(SECRET_KEY)!.openSigningKey(res.body.workerId, identity.signing_key)).toBe(res.body.signingKey);
  });

  it('refuses no token, a wrong token, and a token for another pool', async () => {
    expect((await api.request('POST', '/api/v1/workers/join', { workerId: 'w-x' })).status).toBe(401);
    expect((await join('w-x', 'not-a-real-token-at-all')).status).toBe(401);
    expect((await join('w-x', BOOTSTRAP, 'gpu-pool')).status).toBe(401);
  });

  it('an operator creates, rotates and revokes a pool token', async () => {
    expect((await api.post('/api/v1/pools', { name: 'gpu-a' })).status).toBe(201);
    const created = await api.post('/api/v1/pools/gpu-a/join-tokens', { name: 'rack-1' });
    expect(created.status).toBe(201);
    const { id, token } = created.body;
    expect((await join('w-gpu-1', token)).body.pool).toBe('gpu-a');
    // A token is bound to its pool: it cannot join the default pool.
    expect((await join('w-gpu-2', token, 'default')).status).toBe(401);

    const rotated = await api.post(`/api/v1/join-tokens/${id}/rotate`, {});
    expect(rotated.status).toBe(200);
    expect((await join('w-gpu-2', token)).status).toBe(401);
    expect((await join('w-gpu-2', rotated.body.token)).status).toBe(200);

    const listed = await api.get('/api/v1/pools/gpu-a/join-tokens');
    expect(listed.body.joinTokens).toEqual([expect.objectContaining({ id, name: 'rack-1', revokedAt: null })]);
    expect(JSON.stringify(listed.body)).not.toContain(rotated.body.token);

    expect((await api.request('DELETE', `/api/v1/join-tokens/${id}`)).status).toBe(200);
    const refused = await join('w-gpu-3', rotated.body.token);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('JOIN_TOKEN_INVALID');
    // A worker id of one pool cannot be taken over with another pool's token.
    expect((await join('w-gpu-1')).status).toBe(409);
  });
});

describe('a process holding one worker\'s credentials', () => {
  let victim: string;
  let thiefId: string;
  let thief: Redis;
  let thiefKey: string;
  let stolen: { redisUsername: string; redisPassword: string; signingKey: string };
  let agent: WorkerAgent | undefined;
  let agentConfig: WorkerConfig;
  let stateDir: string;

  beforeAll(async () => {
    victim = `wv-${randomUUID().slice(0, 8)}`;
    thiefId = `wt-${randomUUID().slice(0, 8)}`;
    stolen = (await join(thiefId)).body;
    thiefKey = stolen.signingKey;
    thief = connect({ username: stolen.redisUsername, password: stolen.redisPassword });
    await thief.connect();
    scheduler = await startTestScheduler({ REDIS_URL: adminUrl, GPUBATCH_WORKER_AUTH: 'required', WORKER_HEARTBEAT_TIMEOUT_MS: '60000', GPUBATCH_SECRET_KEY: SECRET_KEY });
    stateDir = path.join(tmpdir(), `gpubatch-wauth-${victim}`);
    agentConfig = {
      redisUrl: `redis://127.0.0.1:${port}/0`, workerId: victim, pool: 'default', labels: {}, vcpus: 2, memoryMiB: 2048, gpus: { mode: 'none' },
      networkMode: 'none', dockerSocket: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock', heartbeatMs: 200,
      maxLogBytes: 64 * 1024, maxConcurrentJobs: 2, stopGraceSeconds: 1, stateDir, logLevel: 'silent',
      joinToken: BOOTSTRAP, apiUrl: api.baseUrl,
    };
    agent = await startWorker(agentConfig, logger);
  });

  let victimRevoked = false;
  afterAll(async () => {
    if (victimRevoked) {
      // A revoked worker cannot drain through Redis: let any password in again so it can stop cleanly.
      const admin = connect({ password: ADMIN_PASSWORD });
      await admin.connect();
      await admin.call('ACL', 'SETUSER', `gpubatch-worker-${victim}`, 'on', 'nopass');
      await Promise.race([agent?.stop(), new Promise((r) => setTimeout(r, 15_000))]);
      await admin.call('ACL', 'DELUSER', `gpubatch-worker-${victim}`);
    } else {
      await agent?.stop();
    }
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('the real worker joined with its token: its heartbeat is its own key and the scheduler sees it', async () => {
    const admin = connect({ password: ADMIN_PASSWORD });
    await admin.connect();
    expect(JSON.parse((await admin.get(RedisKeys.worker(victim)))!).id).toBe(victim);
    expect(await admin.hget(RedisKeys.workerPools, victim)).toBe('default');
    await waitFor('worker recorded', async () => (await api.get(`/api/v1/workers/${victim}`)).body?.state === 'ACTIVE');
  });

  it('a joined worker sees a drain request in its heartbeat (one script, the drain set only read) and leaves', async () => {
    const drained = `wd-${randomUUID().slice(0, 8)}`;
    const drainedDir = path.join(tmpdir(), `gpubatch-wauth-${drained}`);
    const drainedAgent = await startWorker({ ...agentConfig, workerId: drained, stateDir: drainedDir }, logger);
    const admin = connect({ password: ADMIN_PASSWORD });
    await admin.connect();
    try {
      await waitFor('its heartbeat', async () => (await admin.get(RedisKeys.worker(drained))) !== null);
      await admin.sadd(RedisKeys.drainRequests, drained);
      const left = await Promise.race([drainedAgent.left.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
      expect(left).toBe(true);
      expect(await admin.get(RedisKeys.worker(drained))).toBeNull();
    } finally {
      await admin.srem(RedisKeys.drainRequests, drained);
      admin.disconnect();
      await drainedAgent.stop();
      rmSync(drainedDir, { recursive: true, force: true });
    }
  });

  it('a worker that did not join with a token gets no work: the scheduler does not take it into the pool', async () => {
    const rogue = `wr-${randomUUID().slice(0, 8)}`;
    const rogueDir = path.join(tmpdir(), `gpubatch-wauth-${rogue}`);
    // The unauthenticated mode, with the control plane's own Redis password: as much as any worker could hold.
    const rogueAgent = await startWorker({ ...agentConfig, workerId: rogue, stateDir: rogueDir, redisUrl: adminUrl, joinToken: undefined }, logger);
    try {
      const admin = connect({ password: ADMIN_PASSWORD });
      await admin.connect();
      await waitFor('the rogue heartbeat', async () => (await admin.get(RedisKeys.worker(rogue))) !== null);
      admin.disconnect();
      // Many scheduler passes (100 ms apart) and heartbeats (200 ms) later, it is still not a worker of the pool.
      await new Promise((r) => setTimeout(r, 2000));
      expect((await api.get(`/api/v1/workers/${rogue}`)).status).toBe(404);
      expect((await api.get(`/api/v1/workers/${victim}`)).body.state).toBe('ACTIVE');
    } finally {
      await rogueAgent.stop();
      rmSync(rogueDir, { recursive: true, force: true });
    }
  });

  it('cannot read another worker\'s dispatches, nor claim them', async () => {
    const other = `bull:${QueueNames.dispatch(victim)}`;
    expect(await attempt(thief, 'LRANGE', `${other}:wait`, 0, -1)).toBe('NOPERM');
    expect(await attempt(thief, 'HGETALL', `${other}:1`)).toBe('NOPERM');
    expect(await attempt(thief, 'ZRANGE', `${other}:prioritized`, 0, -1)).toBe('NOPERM');
    expect(await attempt(thief, 'BZPOPMIN', `${other}:marker`, 0.01)).toBe('NOPERM');
    // Scripts are checked too, declared keys or not.
    expect(await attempt(thief, 'EVAL', "return redis.call('lrange', KEYS[1], 0, -1)", 1, `${other}:wait`)).toBe('NOPERM');
    expect(await attempt(thief, 'EVAL', `return redis.call('lrange', '${other}:wait', 0, -1)`, 0)).toMatch(/NOPERM|ERR/);
    const claimerConnection = new Redis({ host: '127.0.0.1', port, username: stolen.redisUsername, password: stolen.redisPassword, maxRetriesPerRequest: null });
    opened.push(claimerConnection);
    const claimer = new Worker(QueueNames.dispatch(victim), async () => undefined, { connection: claimerConnection, autorun: false });
    const failed = new Promise<Error>((resolve) => claimer.on('error', resolve));
    void claimer.run().catch(() => undefined);
    expect(String(await failed)).toMatch(/NOPERM/);
    await claimer.close(true).catch(() => undefined);
    // Its own queue is allowed: the credentials work, and only for what they are for.
    expect(await attempt(thief, 'LRANGE', `bull:${QueueNames.dispatch(thiefId)}:wait`, 0, -1)).toBe('OK');
  });

  it('cannot change another worker\'s heartbeat or the pool registry', async () => {
    expect(await attempt(thief, 'SET', RedisKeys.worker(victim), '{}')).toBe('NOPERM');
    expect(await attempt(thief, 'DEL', RedisKeys.worker(victim))).toBe('NOPERM');
    expect(await attempt(thief, 'HSET', RedisKeys.workerPools, thiefId, 'gpu-a')).toBe('NOPERM');
    expect(await attempt(thief, 'HDEL', RedisKeys.workerPools, victim)).toBe('NOPERM');
    expect(await attempt(thief, 'SADD', RedisKeys.drainRequests, victim)).toBe('NOPERM');
    expect(await attempt(thief, 'SET', RedisKeys.worker(thiefId), '{}')).toBe('OK');
  });

  it('cannot read or write another worker\'s live output streams, only its own', async () => {
    const victims = RedisKeys.liveLogs(victim, 'some-job', 1);
    for (const cmd of [['XADD', victims, '*', 'text', 'forged'], ['XRANGE', victims, '-', '+'], ['DEL', victims], ['EXPIRE', victims, '1']]) {
      expect([cmd.join(' '), await attempt(thief, ...cmd)]).toEqual([cmd.join(' '), 'NOPERM']);
    }
    const own = RedisKeys.liveLogs(thiefId, 'its-job', 1);
    expect(await attempt(thief, 'XADD', own, '*', 'text', 'mine')).toBe('OK');
    expect(await attempt(thief, 'DEL', own)).toBe('OK');
  });

  it('cannot touch the scheduler lease or the intake queues, nor run dangerous commands', async () => {
    for (const cmd of [['GET', RedisKeys.schedulerLease], ['SET', RedisKeys.schedulerLease, 'me'], ['DEL', RedisKeys.schedulerLease],
      ['LPUSH', `bull:${QueueNames.intake('default')}:wait`, 'x'], ['HGETALL', `bull:${QueueNames.intake('default')}:meta`],
      ['LPUSH', `bull:${QueueNames.control(victim)}:wait`, 'x']]) {
      expect([cmd.join(' '), await attempt(thief, ...cmd)]).toEqual([cmd.join(' '), 'NOPERM']);
    }
    for (const cmd of [['FLUSHDB'], ['FLUSHALL'], ['CONFIG', 'GET', '*'], ['CONFIG', 'SET', 'requirepass', ''], ['ACL', 'LIST'],
      ['ACL', 'SETUSER', thiefId, 'on', '+@all', '~*'], ['KEYS', '*'], ['CLIENT', 'LIST'], ['CLIENT', 'KILL', 'USER', 'default'],
      ['SCRIPT', 'FLUSH'], ['SHUTDOWN']]) {
      expect([cmd.join(' '), await attempt(thief, ...cmd)]).toEqual([cmd.join(' '), 'NOPERM']);
    }
  });

  it('cannot report on attempts that are not its own: forged reports are refused, the real one is recorded', async () => {
    const q = await api.post('/api/v1/job-queues', { name: 'q-auth', priority: 1 });
    expect(q.status).toBe(201);
    const d = await api.post('/api/v1/job-definitions', {
      name: 'd-auth', image: testEnv().testImage, command: ['sh', '-c', 'sleep 3; exit 0'], resources: { vcpus: 0.25, memoryMiB: 64 },
    });
    expect(d.status).toBe(201);
    const jobId = (await api.post('/api/v1/jobs', { name: 'victim-job', queue: 'q-auth', definition: 'd-auth' })).body.jobId as string;
    const job = async () => (await api.get(`/api/v1/jobs/${jobId}`)).body;
    await waitFor('RUNNING on the victim', async () => (await job()).status === 'RUNNING', 30_000);
    expect((await job()).attempts[0].workerId).toBe(victim);

    const events = new Queue<WorkerEvent>(QueueNames.events, { connection: thief });
    const base: AttemptExitedEvent = {
      type: 'attempt-exited', jobId, attempt: 1, workerId: victim, containerId: null, startedAt: null, stoppedAt: new Date().toISOString(),
      end: { kind: 'exited', exitCode: 1, oomKilled: false }, logs: [{ stream: 'stdout', at: new Date().toISOString(), text: 'forged' }], logsTruncated: false,
    };
    const forged: { label: string; event: WorkerEvent; id?: string }[] = [
      { label: 'unsigned, in the victim\'s name', event: base, id: 'forge-1' },
      { label: 'signed with the thief\'s key, in the victim\'s name', event: signReport(base, thiefKey), id: 'forge-2' },
      { label: 'signed with the thief\'s key, in its own name', event: signReport({ ...base, workerId: thiefId }, thiefKey), id: 'forge-3' },
      // Under the id of the victim's own coming exit report: the victim's add is then a no-op, and its outbox must heal it.
      { label: 'squatting the victim\'s report id', event: signReport(base, thiefKey), id: eventJobId(base) },
    ];
    for (const f of forged) await events.add(f.event.type, f.event, { jobId: f.id });
    for (const f of forged) {
      await waitFor(`refusal of the report ${f.label}`, async () => (await events.getJobState(f.id!)) === 'failed', 20_000);
      const j = await events.getJob(f.id!);
      expect([f.label, j?.failedReason]).toEqual([f.label, expect.stringMatching(/^report refused/)]);
      expect(j?.attemptsMade).toBeLessThanOrEqual(1);
    }
    // None of them was recorded: the job runs on.
    expect((await job()).status).toBe('RUNNING');
    await events.close();

    // The victim's real exit (code 0) is recorded once the container ends, despite the squatted id.
    const done = await waitFor('SUCCEEDED', async () => {
      const j = await job();
      return j.status === 'SUCCEEDED' || j.status === 'FAILED' ? j : undefined;
    }, 40_000);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.attempts[0].exitCode).toBe(0);
    const logs = await db.query(`SELECT text FROM job_logs WHERE job_id = $1`, [jobId]);
    expect(logs.map((l: { text: string }) => l.text)).not.toContain('forged');
    expect(JobIds.event(jobId, 1, 'exited')).toBe(eventJobId(base));
  });

  it('cannot join the pool it declares in its heartbeat: only the pool its token joined counts', async () => {
    const descriptor = (pool: string) => JSON.stringify({
      id: thiefId, pool, hostname: 'thief', vcpus: 64, memoryMiB: 65536, gpus: [], state: 'ACTIVE', heartbeatAt: Date.now(), startedAt: Date.now(),
    });
    expect(await attempt(thief, 'SET', RedisKeys.worker(thiefId), descriptor('gpu-a'))).toBe('OK');
    // Scheduler passes run every 100 ms; the victim, beating, is recorded meanwhile.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await api.get(`/api/v1/workers/${thiefId}`)).status).toBe(404);
    expect(await attempt(thief, 'SET', RedisKeys.worker(thiefId), descriptor('default'))).toBe('OK');
    await waitFor('the thief recorded in the pool it joined', async () => (await api.get(`/api/v1/workers/${thiefId}`)).body?.pool === 'default', 10_000);
    expect(await attempt(thief, 'DEL', RedisKeys.worker(thiefId))).toBe('OK');
  });

  it('an operator revokes a worker: its Redis user is off, its connections are closed, it cannot join again', async () => {
    const res = await api.post(`/api/v1/workers/${thiefId}/revoke`, {});
    expect(res.status).toBe(200);
    await waitFor('thief disconnected', async () => thief.status !== 'ready' || (await attempt(thief, 'PING')) !== 'OK', 5000);
    // The stolen password no longer authenticates.
    const again = connect();
    await again.connect();
    expect(await attempt(again, 'AUTH', stolen.redisUsername, stolen.redisPassword)).toBe('WRONGPASS');
    expect(await attempt(again, 'GET', RedisKeys.worker(thiefId))).toBe('NOAUTH');
    const rejoin = await join(thiefId);
    expect(rejoin.status).toBe(403);
    expect(rejoin.body.code).toBe('WORKER_REVOKED');
  });

  it('a revoked worker is told so: its process learns its credentials were refused (and exits, to join again)', async () => {
    victimRevoked = true;
    expect((await api.post(`/api/v1/workers/${victim}/revoke`, {})).status).toBe(200);
    const error = await Promise.race([agent!.credentialsRejected, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
    expect(String(error)).toMatch(/WRONGPASS|NOAUTH/);
  });
});
