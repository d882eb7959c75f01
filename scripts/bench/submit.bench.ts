/**
 * Submit benchmark: the two submit figures of bench:fleet without the fleet.
 * The built API and scheduler (whose intake takes the submitted jobs) as
 * processes, a real Postgres and Redis, no workers: the jobs go to queues no
 * worker serves, so nothing but the submit path and its intake runs.
 *
 *   1. single submits/s: POST /api/v1/jobs from C concurrent keep-alive clients
 *   2. batched submits/s: POST /api/v1/jobs:batch, B bodies per request from K clients
 *   and the CPU milliseconds per job of each process group (API, scheduler,
 *   Postgres, Redis, the bench client, the kernel, other processes).
 *
 *   npm run build && npm run bench:submit -- [--single-submits 10000] [--clients 32]
 *        [--jobs 50000] [--batch-size 1000] [--batch-clients 2] [--no-scheduler]
 *
 * BENCH_CPU_PROF_DIR (with BENCH_CPU_PROF_APPS=api) writes a V8 CPU profile
 * of the API. Prints one JSON object on stdout; asserts nothing. It
 * TRUNCATES the database in DATABASE_URL and FLUSHES the Redis database in
 * REDIS_URL (defaults: gpubatch_bench, Redis db 14; the test suite's are refused).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LocalCluster } from '../lib/local-cluster.js';
import { ApiClient, CpuMonitor, cpuMsPerJob, machine, runClusterBench, singleSubmits, summarize } from '../lib/bench-kit.js';

const DEFAULT_DATABASE_URL = 'postgres://gpubatch:gpubatch@127.0.0.1:5432/gpubatch_bench';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/14';
const BENCH_KEY = `gpb_bench_${randomBytes(32).toString('base64url')}`;

const progress = (message: string) => process.stderr.write(`[bench:submit] ${new Date().toISOString().slice(11, 19)} ${message}\n`);
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

function readOptions() {
  const { values } = parseArgs({
    options: {
      'single-submits': { type: 'string', default: '10000' },
      clients: { type: 'string', default: '32' },
      jobs: { type: 'string', default: '50000' },
      'batch-size': { type: 'string', default: '1000' },
      'batch-clients': { type: 'string', default: '2' },
      'no-scheduler': { type: 'boolean', default: false },
    },
  });
  const int = (name: keyof typeof values, min: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${values[name]}`);
    return n;
  };
  return {
    databaseUrl: process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
    redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
    singleSubmits: int('single-submits', 0), clients: int('clients', 1),
    jobs: int('jobs', 0), batchSize: int('batch-size', 1), batchClients: int('batch-clients', 1),
    scheduler: !values['no-scheduler'],
  };
}
type Options = ReturnType<typeof readOptions>;

/** The job of the bench:fleet single submits: a one-GPU definition to a queue no worker serves; and the group commits' sizes. */
async function singleSubmitsGrouped(api: ApiClient, cluster: LocalCluster, db: pg.Client, o: Options) {
  const result = await singleSubmits(api, cluster, {
    count: o.singleSubmits, clients: o.clients, queue: 'unserved', definition: 'bench-g1', databaseName: new URL(o.databaseUrl).pathname.slice(1),
  });
  // Rows written by one transaction share its xmin: the group commits' sizes.
  const { rows: [groups] } = await db.query(`SELECT count(DISTINCT xmin::text)::int AS n FROM jobs WHERE name LIKE 'single-%'`);
  return { ...result, groupCommits: groups.n, jobsPerGroupCommit: round(result.accepted / Math.max(1, groups.n), 2) };
}

/** The bodies of bench:fleet part 2: mixed definitions, each with its own environment. */
async function batchedSubmits(api: ApiClient, cluster: LocalCluster, o: Options) {
  const shapes = ['bench-cpu', 'bench-g1', 'bench-g1', 'bench-g2', 'bench-g4'];
  let next = 0;
  let failed = 0;
  const latencies: number[] = [];
  const loop = async () => {
    while (next < o.jobs) {
      const from = next;
      next = Math.min(o.jobs, next + o.batchSize);
      const jobs = Array.from({ length: next - from }, (_, k) => {
        const i = from + k;
        return { name: `batched-${i}`, queue: 'unserved', definition: shapes[i % shapes.length], overrides: { environment: { SIM_DURATION_MS: String(500 + (i % 3500)) } } };
      });
      const reply = await api.request('POST', '/api/v1/jobs:batch', { jobs });
      if (reply.status !== 200) throw new Error(`batch: ${reply.status} ${JSON.stringify(reply.body).slice(0, 500)}`);
      failed += reply.body.failed;
      latencies.push(reply.ms);
    }
  };
  const load = os.loadavg()[0];
  const monitor = new CpuMonitor(cluster, new URL(o.databaseUrl).pathname.slice(1)).start();
  const started = performance.now();
  await Promise.all(Array.from({ length: o.batchClients }, loop));
  const wall = (performance.now() - started) / 1000;
  const cpu = monitor.stop();
  return {
    jobs: o.jobs, batchSize: o.batchSize, batchClients: o.batchClients, loadAverage1mAtStart: round(load, 2), entriesFailed: failed,
    jobsPerSecond: round((o.jobs - failed) / wall), requestLatencyMs: summarize(latencies), cpu, cpuMsPerJob: cpuMsPerJob(cpu, o.jobs - failed),
  };
}

const o = readOptions();
runClusterBench(o, { databaseUrl: DEFAULT_DATABASE_URL, redisUrl: DEFAULT_REDIS_URL }, progress, async (run) => {
  const info = machine();
  const cluster = (run.cluster = new LocalCluster({
    DATABASE_URL: o.databaseUrl, REDIS_URL: o.redisUrl, LOG_LEVEL: 'warn', GPUBATCH_ADMIN_KEY: BENCH_KEY, RATE_LIMIT_REQUESTS: '100000000',
    // The API's group-commit window, when the run compares settings.
    ...(process.env.SUBMIT_GROUP_WINDOW_MS !== undefined && { SUBMIT_GROUP_WINDOW_MS: process.env.SUBMIT_GROUP_WINDOW_MS }),
  }));
  const port = await LocalCluster.freePort();
  const base = `http://127.0.0.1:${port}`;
  const apiProcess = cluster.start('api', { PORT: String(port), HOST: '127.0.0.1' });
  await LocalCluster.waitForHttp(`${base}/health/ready`, apiProcess);
  if (o.scheduler) cluster.start('scheduler', { SCHEDULER_INTERVAL_MS: '200' });
  const api = (run.api = new ApiClient(base, Math.max(o.clients, 8), BENCH_KEY));
  await api.expect(201, 'POST', '/api/v1/job-queues', { name: 'unserved', priority: 1, pools: ['nobody'] });
  for (const [name, gpus] of [['bench-cpu', 0], ['bench-g1', 1], ['bench-g2', 2], ['bench-g4', 4]] as const) {
    await api.expect(201, 'POST', '/api/v1/job-definitions', { name, image: 'busybox', command: ['sleep', '1'], resources: { vcpus: 1 + gpus * 4, memoryMiB: 2048 + gpus * 16384, gpus } });
  }
  // Warm up: JIT, the catalog cache, the connection pools.
  for (let i = 0; i < 200; i++) await api.expect(201, 'POST', '/api/v1/jobs', { name: `warm-${i}`, queue: 'unserved', definition: 'bench-g1' });
  progress(`part 1: ${o.singleSubmits} single submits from ${o.clients} clients`);
  const single = o.singleSubmits > 0 ? await singleSubmitsGrouped(api, cluster, run.db, o) : null;
  progress(`part 2: ${o.jobs} jobs in batches of ${o.batchSize} from ${o.batchClients} clients`);
  const batched = o.jobs > 0 ? await batchedSubmits(api, cluster, o) : null;
  api.close();
  const exitCodes = await cluster.stop(60_000);
  console.log(JSON.stringify({
    benchmark: 'gpubatch submit', at: new Date().toISOString(), machine: info, options: o,
    singleSubmits: single, batchedSubmits: batched, loadAverageAtEnd: os.loadavg().map((l) => round(l, 2)), exitCodes,
  }, null, 2));
  return 0;
});
