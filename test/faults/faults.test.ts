import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import pg from 'pg';
import { apiClient } from './support/client.js';
import { FaultCluster } from './support/fault-cluster.js';
import { OwnPostgres, OwnRedis, RedisProxy, freePort } from './support/infra.js';
import { Monitor, type Violation } from './support/monitor.js';
import { renderMarkdown, type FaultRecord, type RunSummary } from './support/report.js';
import { Rng } from './support/rng.js';
import { SCENARIOS, type FaultContext, type Scenario } from './support/scenarios.js';
import { Workload, provision } from './support/workload.js';
import { TEST_AUTH_ENV } from '../support/test-env.js';

// A container whose attempt ended (its worker judged lost) is stopped once the worker is heard again, after the
// scheduler's reconciliation grace (10 s) and the stop grace: only one that outlives that is an orphan.
const ORPHAN_CONFIRM_MS = 15_000;

/**
 * The fault-injection suite (`npm run test:faults`): real processes, its own
 * Postgres and Redis, real containers. With a few hundred mixed jobs in
 * flight it injects FAULTS_COUNT randomised faults (FAULTS_SEED), checks the
 * invariants with SQL and `docker ps` after each, lets the system settle,
 * checks again, and fails on any violation. The report (per scenario) goes
 * to stdout and to $FAULTS_REPORT_DIR.
 */
const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const COUNT = env('FAULTS_COUNT', 110);
const SEED = env('FAULTS_SEED', Math.floor(Math.random() * 2 ** 31));
const INFLIGHT = env('FAULTS_INFLIGHT', 200);
const SETTLE_MAX_S = env('FAULTS_SETTLE_SECONDS', 240);
const STALL_S = env('FAULTS_STALL_SECONDS', 45);
const WARMUP_S = env('FAULTS_WARMUP_SECONDS', 20);
const GRACE_S = 2;
/** Timeout honoured: stop grace + 3 s for the docker sampling period and report latency. */
const TIMEOUT_SLACK_S = GRACE_S + env('FAULTS_TIMEOUT_SLACK_SECONDS', 3);
const FAILOVER_TARGET_MS = 15_000;
const ONLY = process.env.FAULTS_SCENARIOS?.split(',').map((s) => s.trim()).filter(Boolean);
const IMAGE = process.env.GPUBATCH_TEST_IMAGE ?? 'gpubatch-test:latest';
const RUN_ID = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
const PREFIX = `fault-${RUN_ID}-`;
const REPORT_DIR = process.env.FAULTS_REPORT_DIR ?? `/tmp/gpubatch-faults-report-${RUN_ID}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stdout.write(`[faults ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const A100 = { model: 'A100', memoryMiB: 81920 };
const scenarios: Scenario[] = ONLY ? SCENARIOS.filter((s) => ONLY.includes(s.kind)) : SCENARIOS;

/** Blocks of seeded permutations of the scenarios: any count >= their number runs each at least once. */
function plan(rng: Rng): Scenario[] {
  const out: Scenario[] = [];
  while (out.length < COUNT) out.push(...rng.shuffle(scenarios));
  return out.slice(0, COUNT);
}

/**
 * The fault to charge a violation to. Found before the first fault: none (baseline). An attempt's
 * violation (`hit`): the fault active (injection to recovery) when the attempt began, else the next
 * fault, the one that hit it. A sample (`during`): the fault in whose window (to the end of its checks) it was taken, else the last one.
 */
function attribute(faults: FaultRecord[], v: Violation, mode: 'hit' | 'during'): number | undefined {
  if (faults.length === 0 || v.detectedAt < faults[0].injectAt) return undefined;
  const at = v.at;
  const inside = faults.find((f) => at >= f.injectAt && at <= ((mode === 'hit' ? f.recoveredAt : f.endAt) ?? Infinity));
  if (inside) return inside.index;
  if (mode === 'hit') return faults.find((f) => f.injectAt > at)?.index ?? [...faults].reverse().find((f) => f.injectAt <= at)?.index;
  return [...faults].reverse().find((f) => f.injectAt <= at)?.index;
}

async function retrying<T>(what: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
      await sleep(1000);
    }
  }
}

describe('fault injection', () => {
  it(`keeps every invariant through ${COUNT} randomised faults`, async () => {
    // Separate streams: the load draws at a pace that depends on timing; the faults, their moments and victims must not.
    const rng = new Rng(SEED);
    const loadRng = new Rng(SEED ^ 0x5bd1e995);
    const faultPlan = plan(rng);
    const startedAt = Date.now();
    const commit = (() => { try { return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim(); } catch { return 'unknown'; } })();
    log(`run ${RUN_ID}: seed ${SEED}, ${COUNT} faults over [${scenarios.map((s) => s.kind).join(', ')}], ~${INFLIGHT} jobs in flight, commit ${commit}`);
    log(`plan: ${faultPlan.map((s) => s.kind).join(', ')}`);

    const postgres = new OwnPostgres(`/tmp/gpubatch-faults-${RUN_ID}`, await freePort());
    const redis = new OwnRedis(await freePort());
    const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
    const proxies = new Map<string, RedisProxy>();
    let cluster: FaultCluster | undefined;
    let pool: pg.Pool | undefined;
    let redisClient: Redis | undefined;
    let monitor: Monitor | undefined;
    let workload: Workload | undefined;
    const faults: FaultRecord[] = [];
    let summary: RunSummary | undefined;

    try {
      await postgres.init();
      await redis.start();
      pool = new pg.Pool({ connectionString: postgres.url, max: 4, connectionTimeoutMillis: 3000, statement_timeout: 20_000 });
      pool.on('error', () => undefined);
      redisClient = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
      redisClient.on('error', () => undefined);

      const apiPort = await freePort();
      const apiBase = `http://127.0.0.1:${apiPort}`;
      const api = apiClient(apiBase);
      cluster = new FaultCluster({ DATABASE_URL: postgres.url, REDIS_URL: redis.url }, apiBase);
      cluster.add('api', 'api', { PORT: String(apiPort), HOST: '127.0.0.1', ...TEST_AUTH_ENV });
      const schedulerEnv = { SCHEDULER_INTERVAL_MS: '500', USAGE_ACCRUAL_SECONDS: '5', LOG_LEVEL: 'info' };
      cluster.add('scheduler-1', 'scheduler', schedulerEnv);
      cluster.add('scheduler-2', 'scheduler', schedulerEnv);
      const workerBase = { JOB_NETWORK_MODE: 'none', JOB_STOP_GRACE_SECONDS: String(GRACE_S), WORKER_POOL: 'fault', WORKER_MEMORY_MIB: '4096' };
      const workers = [
        // 0.5 vCPU a job: 4 at once per worker, 12 in all; more only queues up behind one 2-core Docker engine.
        { name: 'w1', vcpus: 2, gpus: [A100, A100, A100, A100] },
        { name: 'w2', vcpus: 2, gpus: [A100, A100, A100, A100] },
        { name: 'w3', vcpus: 2, gpus: [] },
      ];
      for (const w of workers) {
        const proxy = new RedisProxy(redis.port);
        await proxy.start();
        proxies.set(w.name, proxy);
        cluster.add(w.name, 'worker', {
          ...workerBase, WORKER_ID: `${PREFIX}${w.name}`, WORKER_VCPUS: String(w.vcpus),
          WORKER_GPUS: w.gpus.length ? JSON.stringify(w.gpus) : 'none', REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
        });
      }
      // Spared by every fault: always-free capacity on which failover is measured.
      cluster.add('probe', 'worker', { ...workerBase, WORKER_ID: `${PREFIX}probe`, WORKER_POOL: 'fault-probe', WORKER_VCPUS: '1', WORKER_GPUS: 'none' });

      await cluster.restart('api');
      for (const s of ['scheduler-1', 'scheduler-2', 'w1', 'w2', 'w3', 'probe']) cluster.start(s);
      await provision(api, IMAGE);
      await retrying('the workers to join', async () => {
        const list = (await api('GET', '/api/v1/workers?limit=1000')).body.workers as { workerId: string; state: string }[];
        const active = list.filter((w) => w.workerId.startsWith(PREFIX) && w.state === 'ACTIVE').length;
        if (active !== 4) throw new Error(`${active} of 4 workers active`);
      });
      log('cluster up: api, 2 schedulers, 3 workers (2 with 4 GPUs) + probe worker');

      const timeouts = new Map<string, number>();
      workload = new Workload(api, pool, loadRng, INFLIGHT);
      monitor = new Monitor(pool, docker, PREFIX, TIMEOUT_SLACK_S, (jobId) => timeouts.get(jobId.split(':')[0]));
      const syncTimeouts = () => { for (const a of workload!.accepted.values()) if (a.timeoutSeconds) timeouts.set(a.jobId, a.timeoutSeconds); };
      const syncer = setInterval(syncTimeouts, 500);
      monitor.start();
      workload.start();
      await sleep(WARMUP_S * 1000);

      const ctx: FaultContext = {
        cluster, redis, postgres, proxies, redisClient, api, pool, rng,
        schedulers: ['scheduler-1', 'scheduler-2'], workers: ['w1', 'w2', 'w3'], log,
      };
      const suspects = new Map<string, { detail: string; createdAt: number }>();
      // Baseline: the same checks before any fault, so what the load alone breaks is not charged to a fault.
      await retrying('baseline checks', async () => {
        await monitor!.checkUsage();
        await monitor!.checkTimeouts();
        await monitor!.checkOrphans(ORPHAN_CONFIRM_MS);
      });
      log(`baseline: ${workload.accepted.size} accepted, ${monitor.violations.length} violations before any fault`);

      for (const [index, scenario] of faultPlan.entries()) {
        await sleep(rng.between(1000, 6000));
        const rec: FaultRecord = { index, kind: scenario.kind, injectAt: Date.now() };
        faults.push(rec);
        try {
          const out = await scenario.inject(ctx);
          rec.detail = out.detail;
          rec.failoverMs = out.failoverMs;
        } catch (error) {
          rec.error = (error as Error).message.slice(0, 500);
        }
        rec.recoveredAt = Date.now();
        await sleep(scenario.convergeMs);
        try {
          await retrying('per-fault checks', async () => {
            await monitor!.checkUsage();
            await monitor!.checkTimeouts();
            await monitor!.checkOrphans(ORPHAN_CONFIRM_MS);
            for (const s of await monitor!.suspects(45_000)) suspects.set(s.key, s);
            const accepted = [...workload!.accepted.values()].filter((a) => a.submittedAt <= rec.injectAt + 1).map((a) => a.jobId);
            const { rows } = await pool!.query(`SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1)`, [accepted]);
            if (rows[0].n !== accepted.length) log(`#${index}: ${accepted.length - rows[0].n} accepted jobs missing from Postgres`);
          });
        } catch (error) {
          rec.error = `${rec.error ? `${rec.error}; ` : ''}${(error as Error).message.slice(0, 300)}`;
        }
        rec.endAt = Date.now();
        const fresh = monitor.violations.filter((v) => v.at >= rec.injectAt).length;
        log(`#${index} ${scenario.kind}: ${rec.error ? `ERROR ${rec.error}; ` : ''}${rec.detail ?? ''} | ${workload.accepted.size} accepted, ${monitor.violations.length} violations so far (${fresh} new), ${suspects.size} stranded suspects`);
      }

      // Faults over: no new load, then a settle period until everything is terminal or nothing moves any more.
      await workload.stop();
      for (const s of cluster.slots.values()) if (!cluster.alive(s.name)) await cluster.restart(s.name);
      const settleStart = Date.now();
      let lastSig = '';
      let lastChange = Date.now();
      let allTerminal = false;
      let stalled = false;
      while (Date.now() - settleStart < SETTLE_MAX_S * 1000) {
        const sig = await pool.query(
          `SELECT (SELECT count(*) FROM jobs WHERE status NOT IN ('SUCCEEDED', 'FAILED'))::int AS open,
                  (SELECT max(updated_at) FROM jobs)::text AS upd, (SELECT count(*) FROM job_attempts)::int AS att`,
        ).then((r) => r.rows[0]).catch(() => undefined);
        if (sig) {
          if (sig.open === 0) { allTerminal = true; break; }
          const k = JSON.stringify(sig);
          if (k !== lastSig) { lastSig = k; lastChange = Date.now(); }
          if (Date.now() - lastChange > STALL_S * 1000) { stalled = true; break; }
        }
        await sleep(2000);
      }
      const settleSeconds = (Date.now() - settleStart) / 1000;
      log(`settle: ${settleSeconds.toFixed(0)} s, ${allTerminal ? 'all jobs terminal' : stalled ? `no progress for ${STALL_S} s` : 'time limit reached'}`);
      await sleep(5000); // containers of the last attempts are removed
      clearInterval(syncer);
      syncTimeouts();
      monitor.stop();
      await monitor.sampleDocker();
      await monitor.sampleDb();

      // Final checks.
      await monitor.checkUsage();
      await monitor.checkTimeouts();
      await monitor.checkOrphans(0, true);
      const accepted = [...workload.accepted.keys()];
      const present = new Set((await pool.query(`SELECT id FROM jobs WHERE id = ANY($1)`, [accepted])).rows.map((r) => r.id));
      for (const a of workload.accepted.values()) {
        if (!present.has(a.jobId)) monitor.add({ invariant: 'lost', key: a.jobId, at: a.submittedAt, detail: `job ${a.jobId} (${a.kind}) got 201 but is not in Postgres` });
      }
      const open = (await pool.query(
        `SELECT j.id, j.status, j.status_reason, j.attempt_count, (EXTRACT(EPOCH FROM j.updated_at) * 1000)::float AS updated,
                a.worker_id, a.status AS attempt_status, (EXTRACT(EPOCH FROM a.created_at) * 1000)::float AS attempt_created,
                EXISTS (SELECT 1 FROM job_dependencies d JOIN jobs x ON x.id = d.depends_on WHERE d.job_id = j.id AND x.status NOT IN ('SUCCEEDED', 'FAILED')) AS blocked_dep,
                EXISTS (SELECT 1 FROM jobs c WHERE c.parent_id = j.id AND c.status NOT IN ('SUCCEEDED', 'FAILED')) AS blocked_children
         FROM jobs j LEFT JOIN job_attempts a ON a.job_id = j.id AND a.attempt = j.attempt_count
         WHERE j.status NOT IN ('SUCCEEDED', 'FAILED') ORDER BY j.created_at`,
      )).rows;
      const running = new Set((await monitor.runningContainers()).map((c) => `${c.jobId}#${c.attempt}`));
      const consequential: string[] = [];
      // Attempts that still hold a worker's resources after the settle period: jobs queued behind them wait, not lost.
      const capacityHeld = open.some((j) => ['STARTING', 'RUNNING'].includes(j.status));
      for (const j of open) {
        const base = `job ${j.id} ${j.status} ("${j.status_reason ?? ''}")`;
        if (j.blocked_dep || j.blocked_children) {
          consequential.push(`${base}: waits on a ${j.blocked_dep ? 'dependency' : 'child'} that is itself not terminal`);
          continue;
        }
        if (j.status === 'RUNNABLE' && capacityHeld && /^(RESOURCE|PRIORITY|RESERVED):/.test(j.status_reason ?? '')) {
          consequential.push(`${base}: queued behind resources that stranded attempts still hold`);
          continue;
        }
        if (['SUBMITTED', 'RUNNABLE'].includes(j.status)) {
          monitor.add({ invariant: 'lost', key: j.id, at: j.updated,
            detail: `${base} after the settle period: queued in Postgres but never placed again (scheduler lost track of it)` });
        } else if (j.status === 'PENDING') {
          monitor.add({ invariant: 'stranded', key: j.id, at: j.updated, detail: `${base}: its dependencies are terminal but it was never released` });
        } else {
          const key = `${j.id}#${j.attempt_count}`;
          monitor.add({ invariant: 'stranded', key: j.id, at: j.attempt_created ?? j.updated,
            detail: `${base}: attempt ${j.attempt_count} ${j.attempt_status} on ${j.worker_id} since ${new Date(j.attempt_created).toISOString()}, ` +
              `${running.has(key) ? 'container still running' : 'no container'}${suspects.has(key) ? ' (suspected already after its fault)' : ''}` });
        }
      }

      // Attribution to the fault that caused each violation.
      for (const v of monitor.violations) {
        v.fault = attribute(faults, v, v.invariant === 'gpu-double-assigned' ? 'during' : 'hit');
      }
      const failovers = faults.filter((f) => f.failoverMs !== undefined);
      for (const f of failovers) {
        if (f.failoverMs! > FAILOVER_TARGET_MS) {
          monitor.violations.push({ invariant: 'failover-slow', at: f.injectAt, detectedAt: f.injectAt, key: String(f.index), fault: f.index,
            detail: `placement resumed ${(f.failoverMs! / 1000).toFixed(1)} s after the leader's SIGKILL (target < ${FAILOVER_TARGET_MS / 1000} s)` });
        }
      }
      const samples = failovers.map((f) => f.failoverMs!).sort((a, b) => a - b);
      const counts = (await pool.query(
        `SELECT (SELECT count(*) FROM jobs)::int AS rows, (SELECT count(*) FROM job_attempts)::int AS attempts,
                (SELECT count(*) FROM jobs WHERE status IN ('SUCCEEDED', 'FAILED'))::int AS terminal`,
      )).rows[0];
      summary = {
        runId: RUN_ID, seed: SEED, commit, count: COUNT, inflightTarget: INFLIGHT, startedAt: new Date(startedAt).toISOString(),
        durationSeconds: (Date.now() - startedAt) / 1000, settle: { seconds: settleSeconds, allTerminal, stalled },
        jobs: { accepted: workload.accepted.size, rejected: workload.rejected, rows: counts.rows, attempts: counts.attempts, terminal: counts.terminal, consequential },
        samples: monitor.samples,
        faults, violations: monitor.violations.sort((a, b) => a.at - b.at),
        unexpectedExits: cluster.unexpectedExits.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
        failover: { samples, maxMs: samples.at(-1), medianMs: samples[Math.floor(samples.length / 2)] },
      };
    } finally {
      monitor?.stop();
      await workload?.stop();
      if (cluster) {
        for (const s of cluster.slots.values()) s.held = true;
        await Promise.all([...cluster.slots.keys()].map((n) => cluster!.kill(n)));
      }
      // Only this run's job containers (by the worker-id label prefix).
      const mine = await docker.listContainers({ all: true, filters: { label: ['gpubatch.worker-id'] } }).catch(() => []);
      await Promise.all(mine.filter((c) => c.Labels['gpubatch.worker-id']?.startsWith(PREFIX))
        .map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      for (const p of proxies.values()) await p.close();
      redisClient?.disconnect();
      await pool?.end().catch(() => undefined);
      redis.thaw();
      await redis.kill();
      await postgres.destroy();
    }

    mkdirSync(REPORT_DIR, { recursive: true });
    writeFileSync(`${REPORT_DIR}/report.json`, JSON.stringify(summary, null, 2));
    const md = renderMarkdown(summary!, scenarios.map((s) => s.kind));
    writeFileSync(`${REPORT_DIR}/report.md`, md);
    process.stdout.write(`\n${md}\nreport: ${REPORT_DIR}/report.md and report.json\n`);

    const brief = (vs: Violation[]) => vs.map((v) => `${v.invariant} [${v.fault === undefined ? 'baseline' : `#${v.fault} ${summary!.faults[v.fault].kind}`}] ${v.detail}`);
    expect(summary!.faults.filter((f) => f.error).map((f) => `#${f.index} ${f.kind}: ${f.error}`)).toEqual([]);
    expect(brief(summary!.violations)).toEqual([]);
  }, (COUNT * 240 + 1500) * 1000);
});
