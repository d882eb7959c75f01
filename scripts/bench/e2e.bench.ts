/**
 * End-to-end benchmark: the three built apps as processes (as in production),
 * a real Postgres, Redis and Docker engine.
 *
 *   Part 1: submit-to-RUNNING latency of N `true` jobs, split into placement
 *           (submit -> STARTING) and container start (STARTING -> RUNNING).
 *   Part 2: API submit throughput from C concurrent keep-alive clients, with
 *           jobs that cannot be placed (the worker and Docker stay idle; the
 *           scheduler still takes them in, as it would in production).
 *
 * Prints one JSON object on stdout (progress goes to stderr). It asserts
 * nothing about time: the figures are for docs/benchmarks.md.
 *
 *   npm run build && npm run bench:e2e -- [--jobs 200] [--rate 0] [--clients 32] [--submit-jobs 5000]
 *                                          [--warmup 200] [--cpu-prof DIR]
 *
 * It TRUNCATES the database in DATABASE_URL and FLUSHES the Redis database in
 * REDIS_URL; the defaults are the bench's own (gpubatch_bench, Redis db 14).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LocalCluster } from '../lib/local-cluster.js';
import { ApiClient, CpuMonitor, machine, runClusterBench, summarize, waitForFinished, waitUntil } from '../lib/bench-kit.js';

const DEFAULT_DATABASE_URL = 'postgres://gpubatch:gpubatch@127.0.0.1:5432/gpubatch_bench';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/14';
const IMAGE = process.env.GPUBATCH_TEST_IMAGE ?? 'gpubatch-test:latest';
/** The bench's admin key (GPUBATCH_ADMIN_KEY of its API); every request sends it. */
const BENCH_KEY = `gpb_bench_${randomBytes(32).toString('base64url')}`;
const WORKER_ID = 'bench-worker';
const WORKER_POOL = 'bench';

interface Options {
  databaseUrl: string;
  redisUrl: string;
  jobs: number;
  /** Part 1 submits per second; 0 = back to back (one at a time, as fast as the API answers). */
  rate: number;
  clients: number;
  submitJobs: number;
  warmup: number;
  /** When set, the api, scheduler and worker write V8 CPU profiles (.cpuprofile) here. */
  cpuProfDir: string | undefined;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '200' },
      rate: { type: 'string', default: '0' },
      clients: { type: 'string', default: '32' },
      'submit-jobs': { type: 'string', default: '5000' },
      warmup: { type: 'string', default: '200' },
      'cpu-prof': { type: 'string' },
    },
  });
  const int = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${raw}`);
    return n;
  };
  return {
    databaseUrl: process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
    redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
    jobs: int('jobs', values.jobs!, 1),
    rate: int('rate', values.rate!, 0),
    clients: int('clients', values.clients!, 1),
    submitJobs: int('submit-jobs', values['submit-jobs']!, 1),
    warmup: int('warmup', values.warmup!, 0),
    cpuProfDir: values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined,
  };
}


const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- cluster

/**
 * `node --cpu-prof` for the apps. LocalCluster starts `node <main.js>`
 * without node flags, and Node 20 refuses --cpu-prof in NODE_OPTIONS, so a
 * module preloaded with --import (which NODE_OPTIONS allows) runs the V8
 * profiler through node:inspector and writes <app>-<pid>.cpuprofile on exit.
 * Open the files in Chrome DevTools (Performance) or speedscope.
 */
function profilerEnv(dir: string | undefined): Record<string, string> {
  if (!dir) return {};
  mkdirSync(dir, { recursive: true });
  const preload = path.join(dir, 'cpu-profile.mjs');
  writeFileSync(preload, `import inspector from 'node:inspector';
import { writeFileSync } from 'node:fs';
const app = process.argv[1].split('/').at(-3);
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
// An in-thread session answers synchronously, so this works in an exit handler.
process.on('exit', () => session.post('Profiler.stop', (err, res) => {
  if (!err) writeFileSync(${JSON.stringify(dir)} + '/' + app + '-' + process.pid + '.cpuprofile', JSON.stringify(res.profile));
}));
`);
  return { NODE_OPTIONS: `--import=${preload}` };
}


async function startCluster(o: Options): Promise<{ cluster: LocalCluster; api: ApiClient }> {
  const cluster = new LocalCluster({
    DATABASE_URL: o.databaseUrl, REDIS_URL: o.redisUrl, LOG_LEVEL: 'warn', ...profilerEnv(o.cpuProfDir),
    GPUBATCH_ADMIN_KEY: BENCH_KEY, RATE_LIMIT_REQUESTS: '100000000',
  });
  const port = await LocalCluster.freePort();
  const base = `http://127.0.0.1:${port}`;
  // The API first: it applies the migrations the scheduler relies on.
  const apiProcess = cluster.start('api', { PORT: String(port), HOST: '127.0.0.1' });
  await LocalCluster.waitForHttp(`${base}/health/ready`, apiProcess);
  cluster.start('scheduler', { SCHEDULER_INTERVAL_MS: '200' });
  cluster.start('worker', {
    WORKER_ID, WORKER_POOL, WORKER_VCPUS: '64', WORKER_MEMORY_MIB: '65536', WORKER_GPUS: 'none',
    JOB_NETWORK_MODE: 'none', WORKER_MAX_CONCURRENT_JOBS: '64',
  });
  const api = new ApiClient(base, Math.max(o.clients, 8), BENCH_KEY);
  await waitUntil('the worker to join', 30_000, async () => {
    const { workers } = await api.expect(200, 'GET', '/api/v1/workers?limit=1000');
    return workers.some((w: { workerId: string; state: string }) => w.workerId === WORKER_ID && w.state === 'ACTIVE');
  }, cluster);
  return { cluster, api };
}


// ---------------------------------------------------------------- part 1

interface JobTimes { id: string; createdMs: number; startingMs: number; runningMs: number; stoppedMs: number }

/**
 * Submits one job at a time (optionally paced to `rate` per second) and
 * keeps each job's client send time. One at a time because this part
 * measures latency, not the API's concurrency; pacing shows the latency of a
 * cluster that is not saturated.
 */
async function submitForLatency(api: ApiClient, o: Options, queue: string): Promise<Map<string, number>> {
  const sentAt = new Map<string, number>();
  const start = Date.now();
  for (let i = 0; i < o.jobs; i++) {
    if (o.rate > 0) {
      const due = start + (i * 1000) / o.rate;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    const reply = await api.request('POST', '/api/v1/jobs', { name: `latency-${i}`, queue, definition: 'bench-true' });
    if (reply.status !== 201) throw new Error(`submit ${i}: ${reply.status} ${JSON.stringify(reply.body)}`);
    sentAt.set(reply.body.jobId, reply.sentAt);
  }
  return sentAt;
}

/**
 * Each job's times from Postgres, in epoch ms: created_at (the API's insert),
 * the STARTING event (the scheduler's placement commit), the RUNNING event
 * (the container's real start, as Docker reports it) and stopped_at.
 */
async function jobTimes(db: pg.Client, queue: string): Promise<JobTimes[]> {
  const { rows } = await db.query(
    `SELECT j.id,
            extract(epoch FROM j.created_at)::float8 * 1000 AS created_ms,
            extract(epoch FROM s.at)::float8 * 1000 AS starting_ms,
            extract(epoch FROM r.at)::float8 * 1000 AS running_ms,
            extract(epoch FROM j.stopped_at)::float8 * 1000 AS stopped_ms
     FROM jobs j
     JOIN job_events s ON s.job_id = j.id AND s.to_status = 'STARTING'
     JOIN job_events r ON r.job_id = j.id AND r.to_status = 'RUNNING'
     WHERE j.queue = $1`,
    [queue],
  );
  return rows.map((r) => ({ id: r.id, createdMs: r.created_ms, startingMs: r.starting_ms, runningMs: r.running_ms, stoppedMs: r.stopped_ms }));
}

async function latencyPart(api: ApiClient, db: pg.Client, cluster: LocalCluster, o: Options) {
  const queue = 'bench-latency';
  await api.expect(201, 'POST', '/api/v1/job-queues', { name: queue, priority: 10, pools: [WORKER_POOL] });
  progress(`part 1: submitting ${o.jobs} jobs ${o.rate > 0 ? `at ${o.rate}/s` : 'back to back'}`);
  const monitor = new CpuMonitor(cluster).start();
  const t0 = Date.now();
  const sentAt = await submitForLatency(api, o, queue);
  const submitMs = Date.now() - t0;
  const statuses = await waitForFinished(db, queue, o.jobs, Math.max(120_000, o.jobs * 1000), cluster);
  const cpu = monitor.stop();
  const times = await jobTimes(db, queue);

  const fromSend = (t: JobTimes, to: number) => to - sentAt.get(t.id)!;
  // reduce, not Math.min(...): a spread of a large N would overflow the stack.
  const firstSend = [...sentAt.values()].reduce((a, b) => Math.min(a, b), Infinity);
  const lastStop = times.reduce((a, t) => Math.max(a, t.stoppedMs), -Infinity);
  return {
    jobs: o.jobs,
    submission: o.rate > 0 ? `one at a time, paced at ${o.rate} jobs/s` : 'one at a time, back to back',
    submitSeconds: submitMs / 1000,
    statuses,
    measuredJobs: times.length,
    // The main figure: what a user sees, from sending the POST to the container running.
    submitToRunningMs: { from: 'client send time (Date.now() just before the POST)', to: 'RUNNING event at (container real start)', ...summarize(times.map((t) => fromSend(t, t.runningMs))) },
    // The same from the job row's created_at: excludes the HTTP round trip up to the insert.
    createdToRunningMs: { from: 'jobs.created_at', ...summarize(times.map((t) => t.runningMs - t.createdMs)) },
    // Placement: API reply + intake + scheduler pass + placement commit.
    submitToStartingMs: { from: 'client send time', to: 'STARTING event at (placement committed)', ...summarize(times.map((t) => fromSend(t, t.startingMs))) },
    // Dispatch + worker claim + docker create/start + inspect.
    startingToRunningMs: summarize(times.map((t) => t.runningMs - t.startingMs)),
    wallSecondsToFinishAll: { from: 'first submit sent', to: 'last job stopped_at', value: Math.round(lastStop - firstSend) / 1000 },
    finishedJobsPerSecond: Math.round((times.length / ((lastStop - firstSend) / 1000)) * 10) / 10,
    cpu,
  };
}

// ---------------------------------------------------------------- part 2

/** Fires `total` submits from `clients` concurrent loops; each loop sends its next request when the last one answered. */
async function fireSubmits(api: ApiClient, queue: string, total: number, clients: number, label: string) {
  const latencies: number[] = [];
  const rejected: Record<string, number> = {};
  let accepted = 0;
  let next = 0;
  const loop = async () => {
    while (next < total) {
      const i = next++;
      const reply = await api.request('POST', '/api/v1/jobs', { name: `${label}-${i}`, queue, definition: 'bench-true' })
        .catch((err: Error) => ({ status: `error ${err.message}`, ms: NaN }));
      if (reply.status === 201) {
        accepted++;
        latencies.push(reply.ms);
      } else {
        rejected[String(reply.status)] = (rejected[String(reply.status)] ?? 0) + 1;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, loop));
  return { wallMs: performance.now() - started, accepted, rejected, latencies };
}

/**
 * The queue's pools list a pool no worker serves, so its jobs stay RUNNABLE
 * and the worker and Docker stay idle: the figure is the API's (and the
 * scheduler's intake, which keeps running as in production).
 */
async function throughputPart(api: ApiClient, cluster: LocalCluster, o: Options) {
  const queue = 'bench-throughput';
  await api.expect(201, 'POST', '/api/v1/job-queues', { name: queue, priority: 10, pools: ['bench-unserved'] });
  if (o.warmup > 0) {
    progress(`part 2: warm-up, ${o.warmup} submits`);
    await fireSubmits(api, queue, o.warmup, o.clients, 'warmup');
  }
  progress(`part 2: ${o.submitJobs} submits from ${o.clients} concurrent clients`);
  const monitor = new CpuMonitor(cluster).start();
  const run = await fireSubmits(api, queue, o.submitJobs, o.clients, 'throughput');
  const cpu = monitor.stop();
  return {
    submits: o.submitJobs,
    clients: o.clients,
    warmupSubmits: o.warmup,
    client: 'node:http keep-alive agent, one connection per client',
    accepted: run.accepted,
    rejected: run.rejected,
    wallSeconds: Math.round(run.wallMs) / 1000,
    acceptedJobsPerSecond: Math.round((run.accepted / (run.wallMs / 1000)) * 10) / 10,
    requestLatencyMs: summarize(run.latencies),
    cpu,
  };
}

// ---------------------------------------------------------------- main

const o = readOptions();
runClusterBench(o, { databaseUrl: DEFAULT_DATABASE_URL, redisUrl: DEFAULT_REDIS_URL }, progress, async (run) => {
  const info = machine();
  progress('starting api, scheduler and worker');
  const { cluster, api } = await startCluster(o);
  run.cluster = cluster;
  run.api = api;
  await api.expect(201, 'POST', '/api/v1/job-definitions', {
    name: 'bench-true', image: IMAGE, command: ['true'], resources: { vcpus: 0.1, memoryMiB: 32 },
  });
  const latency = await latencyPart(api, run.db, cluster, o);
  const throughput = await throughputPart(api, cluster, o);
  api.close();
  progress('stopping the cluster');
  const exitCodes = await cluster.stop();
  console.log(JSON.stringify({
    benchmark: 'gpubatch e2e', at: new Date().toISOString(), machine: info,
    options: { jobs: o.jobs, rate: o.rate, clients: o.clients, submitJobs: o.submitJobs, warmup: o.warmup, cpuProfDir: o.cpuProfDir ?? null },
    part1SubmitToRunning: latency, part2ApiSubmitThroughput: throughput, exitCodes,
  }, null, 2));
  return Object.values(exitCodes).every((c) => c === 0) ? 0 : 1;
}, { stopTimeoutMs: 30_000, tailLines: 20 });
