/**
 * Fleet benchmark: the built API and scheduler as processes, and a fleet of
 * simulated workers (WORKER_RUNTIME=simulated: the real worker agent, whose
 * attempts sleep instead of running a container), a real Postgres and Redis.
 *
 *   1. single submits/s from C concurrent clients (to a queue no worker serves)
 *   2. batched submits/s (POST /api/v1/jobs:batch), N jobs of mixed shapes
 *      and durations to the fleet, then end-to-end jobs/s: submit, place,
 *      dispatch, claim, run, report, record, until the last one finished
 *   3. submit->RUNNING latency p50/p99 with jobs arriving at R per second
 *   and the scheduler's pass durations (SCHEDULER_PASS_STATS_FILE), and the
 *   CPU seconds per job of each process group (Redis and Postgres included).
 *
 *   npm run build && npm run bench:fleet -- [--workers 1000] [--worker-processes 4] [--jobs 100000]
 *        [--single-submits 5000] [--clients 32] [--batch-size 1000] [--batch-clients 2]
 *        [--latency-jobs 2000] [--rate 200] [--duration-ms 500-4000] [--scheduler-interval-ms 1000]
 *   a short run: npm run bench:fleet -- --workers 50 --jobs 5000 --single-submits 1000 --latency-jobs 200
 *
 * Prints one JSON object on stdout; asserts nothing. It TRUNCATES the
 * database in DATABASE_URL and FLUSHES the Redis database in REDIS_URL
 * (defaults: gpubatch_bench, Redis db 14; the test suite's are refused).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LocalCluster } from '../lib/local-cluster.js';
import { ApiClient, CpuMonitor, machine, runClusterBench, singleSubmits, summarize, waitForFinished, waitUntil } from '../lib/bench-kit.js';

const DEFAULT_DATABASE_URL = 'postgres://gpubatch:gpubatch@127.0.0.1:5432/gpubatch_bench';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/14';
const BENCH_KEY = `gpb_bench_${randomBytes(32).toString('base64url')}`;
const POOL = 'fleet';

const progress = (message: string) => process.stderr.write(`[bench:fleet] ${new Date().toISOString().slice(11, 19)} ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

function readOptions() {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '1000' },
      'worker-processes': { type: 'string', default: '4' },
      'gpus-per-worker': { type: 'string', default: '8' },
      jobs: { type: 'string', default: '100000' },
      'single-submits': { type: 'string', default: '5000' },
      clients: { type: 'string', default: '32' },
      'batch-size': { type: 'string', default: '1000' },
      'batch-clients': { type: 'string', default: '2' },
      'latency-jobs': { type: 'string', default: '2000' },
      rate: { type: 'string', default: '200' },
      'duration-ms': { type: 'string', default: '500-4000' },
      // The shipped default (SCHEDULER_INTERVAL_MS, 1000): quick passes carry submits and reports between full ones.
      'scheduler-interval-ms': { type: 'string', default: '1000' },
    },
  });
  const int = (name: keyof typeof values, min: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${values[name]}`);
    return n;
  };
  const [lo, hi] = String(values['duration-ms']).split('-').map(Number);
  if (!(lo >= 0 && hi >= lo)) throw new Error('--duration-ms must be MIN-MAX in ms');
  return {
    databaseUrl: process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
    redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
    workers: int('workers', 1), workerProcesses: int('worker-processes', 1), gpusPerWorker: int('gpus-per-worker', 0),
    jobs: int('jobs', 1), singleSubmits: int('single-submits', 0), clients: int('clients', 1),
    batchSize: int('batch-size', 1), batchClients: int('batch-clients', 1), latencyJobs: int('latency-jobs', 0), rate: int('rate', 1),
    durationMs: { min: lo, max: hi }, schedulerIntervalMs: int('scheduler-interval-ms', 10),
  };
}
type Options = ReturnType<typeof readOptions>;



/** The mix of bench:scheduler: 10% CPU-only, 60% 1 GPU, 15% 2, 10% 4, 5% 8. */
const SHAPES = [
  { name: 'fleet-cpu', weight: 10, resources: { vcpus: 1, memoryMiB: 2048, gpus: 0 } },
  { name: 'fleet-g1', weight: 60, resources: { vcpus: 4, memoryMiB: 16384, gpus: 1 } },
  { name: 'fleet-g2', weight: 15, resources: { vcpus: 8, memoryMiB: 32768, gpus: 2 } },
  { name: 'fleet-g4', weight: 10, resources: { vcpus: 16, memoryMiB: 65536, gpus: 4 } },
  { name: 'fleet-g8', weight: 5, resources: { vcpus: 32, memoryMiB: 131072, gpus: 8 } },
];

function mixedJob(i: number, o: Options, queue: string, prefix: string) {
  let pick = (i * 7919) % 100;
  const shape = SHAPES.find((s) => (pick -= s.weight) < 0) ?? SHAPES[1];
  const duration = o.durationMs.min + ((i * 104_729) % 1000) / 1000 * (o.durationMs.max - o.durationMs.min);
  return { name: `${prefix}-${i}`, queue, definition: shape.name, overrides: { environment: { SIM_DURATION_MS: String(Math.round(duration)) } } };
}


/** Starts the processes on `cluster`, which the caller owns: a start that fails half way still stops what it started. */
async function startCluster(cluster: LocalCluster, o: Options, statsFile: string, stateDir: string) {
  const port = await LocalCluster.freePort();
  const base = `http://127.0.0.1:${port}`;
  const apiProcess = cluster.start('api', { PORT: String(port), HOST: '127.0.0.1' });
  await LocalCluster.waitForHttp(`${base}/health/ready`, apiProcess);
  cluster.start('scheduler', { SCHEDULER_INTERVAL_MS: String(o.schedulerIntervalMs), SCHEDULER_PASS_STATS_FILE: statsFile, WORKER_HEARTBEAT_TIMEOUT_MS: '60000' });
  const gpus = JSON.stringify(Array.from({ length: o.gpusPerWorker }, (_, i) => ({ model: i % 2 ? 'NVIDIA H100' : 'NVIDIA A100', memoryMiB: 81920 })));
  const perProcess = Math.ceil(o.workers / o.workerProcesses);
  for (let p = 0, left = o.workers; left > 0; p++, left -= perProcess) {
    cluster.start('worker', {
      WORKER_RUNTIME: 'simulated', SIMULATED_WORKERS: String(Math.min(perProcess, left)), WORKER_ID: `sim${p}`, WORKER_POOL: POOL,
      WORKER_VCPUS: '64', WORKER_MEMORY_MIB: String(512 * 1024), WORKER_GPUS: o.gpusPerWorker ? gpus : 'none', WORKER_MAX_CONCURRENT_JOBS: '64',
      WORKER_HEARTBEAT_MS: '5000', WORKER_STATE_DIR: path.join(stateDir, `workers-${p}`),
    }, `workers-${p}`);
  }
  const api = new ApiClient(base, Math.max(o.clients, 8), BENCH_KEY);
  await waitUntil(`${o.workers} workers to join`, 600_000, async () => {
    // The list is paged: every page is read.
    let active = 0;
    let cursor: string | undefined;
    do {
      const page = await api.expect(200, 'GET', `/api/v1/workers?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      active += page.workers.filter((w: { state: string }) => w.state === 'ACTIVE').length;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return active >= o.workers;
  }, cluster);
  return { api };
}

/** Part 1: single submits from C concurrent keep-alive clients, to a queue no worker serves. */
async function part1SingleSubmits(api: ApiClient, cluster: LocalCluster, o: Options) {
  const queue = 'fleet-unserved';
  await api.expect(201, 'POST', '/api/v1/job-queues', { name: queue, priority: 1, pools: ['nobody'] });
  return singleSubmits(api, cluster, { count: o.singleSubmits, clients: o.clients, queue, definition: 'fleet-g1' });
}

/** Part 2: the jobs in batches to the fleet, then everything until the last one has finished. */
async function batchedAndEndToEnd(api: ApiClient, db: pg.Client, cluster: LocalCluster, o: Options) {
  const queue = 'fleet';
  await api.expect(201, 'POST', '/api/v1/job-queues', { name: queue, priority: 10, pools: [POOL] });
  const load = os.loadavg()[0];
  const monitor = new CpuMonitor(cluster).start();
  const started = performance.now();
  const firstSent = Date.now();
  let next = 0;
  let failed = 0;
  const batchLatencies: number[] = [];
  const loop = async () => {
    while (next < o.jobs) {
      const from = next;
      next = Math.min(o.jobs, next + o.batchSize);
      const jobs = Array.from({ length: next - from }, (_, k) => mixedJob(from + k, o, queue, 'e2e'));
      const reply = await api.request('POST', '/api/v1/jobs:batch', { jobs });
      if (reply.status !== 200) throw new Error(`batch: ${reply.status} ${JSON.stringify(reply.body).slice(0, 500)}`);
      failed += reply.body.failed;
      batchLatencies.push(reply.ms);
    }
  };
  await Promise.all(Array.from({ length: o.batchClients }, loop));
  const submitWall = (performance.now() - started) / 1000;
  const submitCpu = monitor.stop();
  progress(`part 2: ${o.jobs} jobs submitted in ${round(submitWall)} s; waiting for them to finish`);
  const monitor2 = new CpuMonitor(cluster).start();
  const counts = await waitForFinished(db, queue, o.jobs - failed, Math.max(600_000, o.jobs * 50), cluster);
  const runCpu = monitor2.stop();
  const { rows: [last] } = await db.query(`SELECT extract(epoch FROM max(stopped_at))::float8 * 1000 AS ms FROM jobs WHERE queue = $1`, [queue]);
  const e2eSeconds = (last.ms - firstSent) / 1000;
  const cpuSeconds: Record<string, number> = {};
  for (const c of [submitCpu, runCpu]) for (const [g, s] of Object.entries(c.cpuSeconds ?? {})) cpuSeconds[g] = round((cpuSeconds[g] ?? 0) + s, 2);
  const jobsDone = (counts.SUCCEEDED ?? 0) + (counts.FAILED ?? 0);
  return {
    jobs: o.jobs, batchSize: o.batchSize, batchClients: o.batchClients, loadAverage1mAtStart: round(load, 2), entriesFailed: failed,
    batchedSubmitsPerSecond: round((o.jobs - failed) / submitWall), batchRequestLatencyMs: summarize(batchLatencies), submitCpu,
    statuses: counts, endToEndSeconds: round(e2eSeconds, 2), endToEndJobsPerSecond: round(jobsDone / e2eSeconds),
    runCpu, cpuSecondsWholePart: cpuSeconds, cpuMsPerJob: Object.fromEntries(Object.entries(cpuSeconds).map(([g, s]) => [g, round((s * 1000) / Math.max(1, jobsDone), 3)])),
  };
}

/** Part 3: single submits paced at R/s to the idle fleet; submit (client send) -> RUNNING event. */
async function latency(api: ApiClient, db: pg.Client, cluster: LocalCluster, o: Options) {
  const queue = 'fleet-latency';
  await api.expect(201, 'POST', '/api/v1/job-queues', { name: queue, priority: 20, pools: [POOL] });
  const sentAt = new Map<string, number>();
  const load = os.loadavg()[0];
  const start = Date.now();
  await Promise.all(Array.from({ length: o.latencyJobs }, async (_, i) => {
    const due = start + (i * 1000) / o.rate;
    if (due > Date.now()) await sleep(due - Date.now());
    const reply = await api.request('POST', '/api/v1/jobs', mixedJob(i, { ...o, durationMs: { min: 200, max: 1000 } }, queue, 'lat'));
    if (reply.status === 201) sentAt.set(reply.body.jobId, reply.sentAt);
  }));
  await waitUntil('the latency jobs to run', 300_000, async () => {
    const { rows: [r] } = await db.query(`SELECT count(*)::int AS n FROM jobs WHERE queue = $1 AND started_at IS NOT NULL`, [queue]);
    return r.n >= sentAt.size;
  }, cluster, 1000);
  const { rows } = await db.query(
    `SELECT j.id, extract(epoch FROM r.at)::float8 * 1000 AS running_ms, extract(epoch FROM s.at)::float8 * 1000 AS starting_ms,
            extract(epoch FROM j.created_at)::float8 * 1000 AS created_ms
     FROM jobs j JOIN job_events r ON r.job_id = j.id AND r.to_status = 'RUNNING' JOIN job_events s ON s.job_id = j.id AND s.to_status = 'STARTING'
     WHERE j.queue = $1`, [queue]);
  return {
    jobs: o.latencyJobs, ratePerSecond: o.rate, loadAverage1mAtStart: round(load, 2), measured: rows.length,
    submitToRunningMs: summarize(rows.map((r) => r.running_ms - sentAt.get(r.id)!)),
    submitToStartingMs: summarize(rows.map((r) => r.starting_ms - sentAt.get(r.id)!)),
    // The stages: the API's commit (the row's created_at), the placement's commit (STARTING), the worker's start (RUNNING).
    stagesMs: {
      submitToCommitted: summarize(rows.map((r) => r.created_ms - sentAt.get(r.id)!)),
      committedToStarting: summarize(rows.map((r) => r.starting_ms - r.created_ms)),
      startingToRunning: summarize(rows.map((r) => r.running_ms - r.starting_ms)),
    },
  };
}

function passStats(file: string, sinceMs: number, untilMs: number) {
  type Line = { at: number; runnable: number; placed: number; totalMs: number; coreMs: number; workers: number; systemsMs?: Record<string, number> };
  let lines: Line[] = [];
  try {
    lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return null;
  }
  // Two kinds of line: the systems that ran before a placement, and the placement itself.
  const systemLines = lines.filter((l) => l.systemsMs && l.at >= sinceMs && l.at <= untilMs);
  const systems: Record<string, ReturnType<typeof summarize>> = {};
  for (const name of new Set(systemLines.flatMap((l) => Object.keys(l.systemsMs!)))) {
    systems[name] = summarize(systemLines.map((l) => l.systemsMs![name]).filter((ms) => ms !== undefined));
  }
  const inPart = lines.filter((l) => !l.systemsMs && l.at >= sinceMs && l.at <= untilMs);
  const idle = inPart.filter((l) => l.placed === 0);
  return {
    passes: inPart.length, totalMs: summarize(inPart.map((l) => l.totalMs)), coreMs: summarize(inPart.map((l) => l.coreMs)),
    passesPlacingNothing: { count: idle.length, totalMs: summarize(idle.map((l) => l.totalMs)), maxRunnable: idle.reduce((m, l) => Math.max(m, l.runnable), 0) },
    maxRunnable: inPart.reduce((m, l) => Math.max(m, l.runnable), 0),
    systemsBeforePlacementMs: systems,
  };
}

const o = readOptions();
const statsFile = path.join(os.tmpdir(), `gpubatch-fleet-passes-${process.pid}.jsonl`);
let stateDir: string | undefined;
runClusterBench(o, { databaseUrl: DEFAULT_DATABASE_URL, redisUrl: DEFAULT_REDIS_URL }, progress, async (run) => {
  const info = machine();
  progress(`starting api, scheduler and ${o.workers} simulated workers in ${o.workerProcesses} processes`);
  const joinStart = performance.now();
  // The workers' outboxes, this run's own: a report left by an earlier run (or read by a concurrent one) is not this run's.
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'gpubatch-fleet-bench-'));
  const cluster = (run.cluster = new LocalCluster({
    DATABASE_URL: o.databaseUrl, REDIS_URL: o.redisUrl, LOG_LEVEL: 'warn', GPUBATCH_ADMIN_KEY: BENCH_KEY, RATE_LIMIT_REQUESTS: '100000000',
  }));
  const { api } = await startCluster(cluster, o, statsFile, stateDir);
  run.api = api;
  const joinSeconds = round((performance.now() - joinStart) / 1000);
  for (const s of SHAPES) {
    await api.expect(201, 'POST', '/api/v1/job-definitions', { name: s.name, image: 'simulated', command: ['sleep', '1'], resources: s.resources });
  }
  progress(`part 1: ${o.singleSubmits} single submits from ${o.clients} clients`);
  const t1 = Date.now();
  const single = o.singleSubmits > 0 ? await part1SingleSubmits(api, cluster, o) : null;
  progress(`part 2: ${o.jobs} jobs in batches of ${o.batchSize}`);
  const t2 = Date.now();
  const batched = await batchedAndEndToEnd(api, run.db, cluster, o);
  const t3 = Date.now();
  progress(`part 3: ${o.latencyJobs} jobs at ${o.rate}/s`);
  const lat = o.latencyJobs > 0 ? await latency(api, run.db, cluster, o) : null;
  const t4 = Date.now();
  api.close();
  progress('stopping');
  const exitCodes = await cluster.stop(120_000);
  console.log(JSON.stringify({
    benchmark: 'gpubatch fleet', at: new Date().toISOString(), machine: info, options: o, workersJoinSeconds: joinSeconds,
    part1SingleSubmits: single, part2BatchedAndEndToEnd: batched, part3Latency: lat,
    passes: { part1: passStats(statsFile, t1, t2), part2: passStats(statsFile, t2, t3), part3: passStats(statsFile, t3, t4) },
    loadAverageAtEnd: os.loadavg().map((l) => round(l, 2)), exitCodes,
  }, null, 2));
  return 0;
}, {
  stopTimeoutMs: 120_000,
  cleanup: () => {
    if (!process.env.BENCH_KEEP_PASS_STATS) rmSync(statsFile, { force: true });
    else progress(`pass stats kept in ${statsFile}`);
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  },
});
