import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Api } from './client.js';
import type { FaultCluster } from './fault-cluster.js';
import type { OwnPostgres, OwnRedis, RedisProxy } from './infra.js';
import type { Rng } from './rng.js';
import { QUEUES } from './workload.js';

export const LEASE_KEY = 'gpubatch:scheduler:leader';

export interface FaultContext {
  cluster: FaultCluster;
  redis: OwnRedis;
  postgres: OwnPostgres;
  proxies: Map<string, RedisProxy>;
  /** A client on the suite's Redis, for the lease key. */
  redisClient: Redis;
  api: Api;
  pool: pg.Pool;
  rng: Rng;
  schedulers: string[];
  /** Workers faults may hit (the probe worker is spared, so failover is measured on free capacity). */
  workers: string[];
  log: (msg: string) => void;
}

export interface FaultOutcome { detail: string; failoverMs?: number }

export interface Scenario {
  kind: string;
  description: string;
  /** How long after recovery the system gets before the checks (lost-worker detection is 15 s). */
  convergeMs: number;
  inject(ctx: FaultContext): Promise<FaultOutcome>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch { /* retry */ }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The scheduler slot holding the lease now, from the holder id it logged on becoming leader. */
async function leaderSlot(ctx: FaultContext): Promise<string | undefined> {
  const holder = await ctx.redisClient.get(LEASE_KEY).catch(() => null);
  return ctx.schedulers.find((s) => holder && ctx.cluster.slot(s).holderId === holder);
}

/**
 * Failover: from the leader's SIGKILL until placement resumes, i.e. until a
 * probe job (submitted right after the kill, to a queue whose worker is
 * always free) gets its attempt row.
 */
async function measureFailover(ctx: FaultContext, killedAt: number): Promise<number> {
  let probeId: string | undefined;
  const deadline = Date.now() + 90_000;
  while (!probeId && Date.now() < deadline) {
    const r = await ctx.api('POST', '/api/v1/jobs', { name: 'probe', queue: QUEUES.probe, definition: 'fault-sh', parameters: { sleep: '0.1', okfrom: '1' } }).catch(() => undefined);
    if (r?.status === 201) probeId = r.body.jobId;
    else await sleep(200);
  }
  if (!probeId) throw new Error('could not submit the failover probe');
  while (Date.now() < deadline) {
    const { rows } = await ctx.pool.query(`SELECT (EXTRACT(EPOCH FROM created_at) * 1000)::float AS at FROM job_attempts WHERE job_id = $1 AND attempt = 1`, [probeId]).catch(() => ({ rows: [] as any[] }));
    if (rows.length) return Math.max(0, rows[0].at - killedAt);
    await sleep(100);
  }
  return Number.POSITIVE_INFINITY;
}

async function killScheduler(ctx: FaultContext, downMs: number): Promise<FaultOutcome> {
  await waitUntil('a scheduler leader', async () => !!(await leaderSlot(ctx)), 30_000).catch(() => undefined);
  const leader = (await leaderSlot(ctx)) ?? ctx.rng.pick(ctx.schedulers);
  await ctx.cluster.kill(leader);
  const killedAt = Date.now();
  const quick = downMs === 0;
  if (quick) await ctx.cluster.restart(leader);
  const failoverMs = await measureFailover(ctx, killedAt);
  const rest = downMs - (Date.now() - killedAt);
  if (!quick) {
    if (rest > 0) await sleep(rest);
    await ctx.cluster.restart(leader);
  }
  return { detail: `SIGKILL leader ${leader}, ${quick ? 'restarted at once' : `down ${(downMs / 1000).toFixed(0)} s`}; placement resumed after ${(failoverMs / 1000).toFixed(1)} s`, failoverMs };
}

async function killWorker(ctx: FaultContext, downMs: number): Promise<FaultOutcome> {
  const w = ctx.rng.pick(ctx.workers);
  await ctx.cluster.kill(w);
  await sleep(downMs);
  await ctx.cluster.restart(w);
  return { detail: `SIGKILL ${w}, restarted after ${(downMs / 1000).toFixed(1)} s` };
}

export const SCENARIOS: Scenario[] = [
  {
    kind: 'api-kill-quick', description: 'SIGKILL of the API, restarted at once', convergeMs: 5_000,
    async inject(ctx) {
      await ctx.cluster.kill('api');
      await ctx.cluster.restart('api');
      return { detail: 'SIGKILL api, restarted at once' };
    },
  },
  {
    kind: 'api-kill-slow', description: 'SIGKILL of the API, down 15 s', convergeMs: 5_000,
    async inject(ctx) {
      await ctx.cluster.kill('api');
      await sleep(15_000);
      await ctx.cluster.restart('api');
      return { detail: 'SIGKILL api, down 15 s' };
    },
  },
  {
    kind: 'scheduler-kill-quick', description: 'SIGKILL of the leader scheduler, restarted at once (a standby runs)', convergeMs: 5_000,
    inject: (ctx) => killScheduler(ctx, 0),
  },
  {
    kind: 'scheduler-kill-slow', description: 'SIGKILL of the leader scheduler, down 25 s (a standby runs)', convergeMs: 5_000,
    inject: (ctx) => killScheduler(ctx, 25_000),
  },
  {
    kind: 'worker-kill-quick', description: 'SIGKILL of a worker, restarted with the same id within 0.5-1.5 s', convergeMs: 20_000,
    inject: (ctx) => killWorker(ctx, ctx.rng.between(500, 1500)),
  },
  {
    kind: 'worker-kill-slow', description: 'SIGKILL of a worker, restarted after 25 s (past the 15 s heartbeat timeout)', convergeMs: 20_000,
    inject: (ctx) => killWorker(ctx, 25_000),
  },
  {
    kind: 'redis-restart-flush', description: 'Redis killed and started again empty', convergeMs: 15_000,
    async inject(ctx) {
      await ctx.redis.restartEmpty();
      return { detail: 'redis-server SIGKILL, started again empty on the same port' };
    },
  },
  {
    kind: 'redis-freeze', description: 'Redis frozen (SIGSTOP) for 25 s', convergeMs: 20_000,
    async inject(ctx) {
      ctx.redis.freeze();
      await sleep(25_000);
      ctx.redis.thaw();
      return { detail: 'redis-server SIGSTOP 25 s, then SIGCONT' };
    },
  },
  {
    kind: 'postgres-down', description: 'Postgres stopped (pg_ctl stop -m fast) for 90 s', convergeMs: 20_000,
    async inject(ctx) {
      await ctx.postgres.stop();
      await sleep(90_000);
      await ctx.postgres.start();
      return { detail: 'pg_ctl stop -m fast, 90 s, start' };
    },
  },
  {
    kind: 'lease-churn', description: 'two schedulers; the leader lease deleted every 2-4 s for 30 s', convergeMs: 5_000,
    async inject(ctx) {
      for (const s of ctx.schedulers) if (!ctx.cluster.alive(s)) await ctx.cluster.restart(s);
      const until = Date.now() + 30_000;
      let deletes = 0;
      while (Date.now() < until) {
        deletes += await ctx.redisClient.del(LEASE_KEY).catch(() => 0);
        await sleep(ctx.rng.between(2000, 4000));
      }
      return { detail: `lease key deleted ${deletes} times in 30 s` };
    },
  },
  {
    kind: 'worker-partition', description: 'a worker cut off from Redis for 20 s (TCP proxy), then back', convergeMs: 20_000,
    async inject(ctx) {
      const w = ctx.rng.pick(ctx.workers);
      const mode = ctx.rng.chance(0.5) ? 'reset' : 'blackhole';
      const proxy = ctx.proxies.get(w)!;
      proxy.cut(mode);
      await sleep(20_000);
      proxy.heal();
      return { detail: `${w} cut off from Redis for 20 s (${mode === 'reset' ? 'connections reset, new ones refused' : 'blackholed: bytes dropped'})` };
    },
  },
];
