/**
 * What the benchmarks that start the built apps share: percentiles, a
 * keep-alive HTTP client, CPU accounting by process group, the machine.
 */
import http from 'node:http';
import os from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { LocalCluster } from './local-cluster.js';

// ---------------------------------------------------------------- statistics

export interface Summary { count: number; p50: number; p90: number; p99: number; max: number; mean: number }

/** Nearest-rank percentiles, in ms rounded to 0.1. */
export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  const round = (n: number) => Math.round(n * 10) / 10;
  const mean = sorted.reduce((s, v) => s + v, 0) / (sorted.length || 1);
  return {
    count: sorted.length, p50: round(rank(50)), p90: round(rank(90)), p99: round(rank(99)),
    max: round(sorted.at(-1) ?? NaN), mean: round(mean),
  };
}

// ---------------------------------------------------------------- HTTP client

export interface Reply { status: number; body: any; ms: number; sentAt: number }

/**
 * A keep-alive node:http client. Not fetch: on a 2-core machine the client
 * shares the CPU with the API, scheduler, Postgres and Redis, and node:http
 * costs the client noticeably less CPU per request than fetch (undici).
 */
export class ApiClient {
  private readonly agent: http.Agent;

  constructor(private readonly base: string, maxSockets: number, private readonly key: string) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** sentAt: epoch ms just before the request goes out (the latency's start in part 1). */
  request(method: string, path: string, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const sentAt = Date.now();
      const started = performance.now();
      const req = http.request(this.base + path, {
        method, agent: this.agent,
        headers: {
          authorization: `Bearer ${this.key}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try { parsed = JSON.parse(text); } catch { /* not JSON: keep the text */ }
          resolve({ status: res.statusCode ?? 0, body: parsed, ms: performance.now() - started, sentAt });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  async expect(status: number, method: string, path: string, body?: unknown): Promise<any> {
    const reply = await this.request(method, path, body);
    if (reply.status !== status) throw new Error(`${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------- CPU accounting

/**
 * Where the machine's cores go during a part (Linux /proc; empty elsewhere):
 * CPU seconds per process group (api, scheduler, worker, postgres, redis,
 * docker, containers, bench-client), "other" for processes that are none of
 * ours (another load on a shared machine: a run with much "other" is not
 * clean), and "unsampled" for busy time no process accounts for (processes
 * shorter than a sampling period: mostly runc and the jobs' own `true`).
 * Also, per group, how long its processes were ready to run but waited for
 * a core (the kernel's run-queue delay, main thread only): on a small
 * machine it shows the services queueing behind one another.
 * Sampled every 250 ms so that processes ending mid-part still count.
 */
const USER_HZ = 100;
const SAMPLE_MS = 250;

interface ProcStat { ppid: number; comm: string; seconds: number; waitSeconds: number }

function readProcs(): Map<number, ProcStat> {
  const procs = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] = state, f[1] = ppid, f[11..12] = utime, stime
    procs.set(Number(entry), { ppid: Number(f[1]), comm, seconds: (Number(f[11]) + Number(f[12])) / USER_HZ, waitSeconds: runQueueWait(entry) });
  }
  return procs;
}

/** Seconds the process's main thread spent runnable but not running: /proc/<pid>/schedstat is "run_ns wait_ns slices". */
function runQueueWait(pid: string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return 0; // ended, or a kernel without schedstats
  }
}

/** Machine busy and steal seconds, from the first line of /proc/stat: cpu user nice system idle iowait irq softirq steal. */
function readMachine(): { busy: number; steal: number } {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq) / USER_HZ, steal: steal / USER_HZ };
}

export class CpuMonitor {
  private readonly seen = new Map<number, { group: string; seconds: number; waitSeconds: number }>();
  private readonly used: Record<string, number> = {};
  private readonly waited: Record<string, number> = {};
  private timer: NodeJS.Timeout | undefined;
  private startMachine = { busy: NaN, steal: NaN };
  private startedAt = 0;

  /**
   * database: when given, the Postgres backends connected to another
   * database (other benches or tests on a shared machine) count as
   * "postgres-other-db", not as this run's "postgres".
   */
  constructor(private readonly cluster: LocalCluster, private readonly database?: string) {}

  start(): this {
    try {
      this.startMachine = readMachine();
      this.tick(true);
      this.timer = setInterval(() => this.tick(false), SAMPLE_MS);
    } catch {
      // not Linux: no CPU figures
    }
    this.startedAt = performance.now();
    return this;
  }

  stop() {
    clearInterval(this.timer);
    const wall = (performance.now() - this.startedAt) / 1000;
    const round = (n: number) => Math.round(n * 100) / 100;
    if (Number.isNaN(this.startMachine.busy)) return { wallSeconds: round(wall) };
    this.tick(false);
    const end = readMachine();
    const busy = end.busy - this.startMachine.busy;
    const sampled = Object.values(this.used).reduce((sum, v) => sum + v, 0);
    const byValue = (r: Record<string, number>) =>
      Object.fromEntries(Object.entries(r).sort(([, a], [, b]) => b - a).map(([g, v]) => [g, round(v)]));
    return {
      wallSeconds: round(wall),
      cpuSeconds: byValue({ ...this.used, unsampled: Math.max(0, busy - sampled) }),
      runQueueWaitSeconds: byValue(this.waited),
      machineBusyCores: round(busy / wall),
      // Time the hypervisor gave our vCPUs to someone else: capacity lost, not work done.
      stealCores: round((end.steal - this.startMachine.steal) / wall),
      cores: os.cpus().length,
    };
  }

  /** The baseline tick records what each process had used; later ticks add what it used since. */
  private tick(baseline: boolean): void {
    const procs = readProcs();
    const ours = new Map(this.cluster.processes.map((p) => [p.child.pid, p.name]));
    for (const [pid, p] of procs) {
      const before = this.seen.get(pid);
      const group = before?.group ?? groupOf(pid, procs, ours, this.database);
      if (!baseline) {
        this.used[group] = (this.used[group] ?? 0) + p.seconds - (before?.seconds ?? 0);
        this.waited[group] = (this.waited[group] ?? 0) + p.waitSeconds - (before?.waitSeconds ?? 0);
      }
      this.seen.set(pid, { group, seconds: p.seconds, waitSeconds: p.waitSeconds });
    }
  }
}

/** By ancestry, so that children (Postgres backends, container shims and their jobs) go with their parent. */
function groupOf(pid: number, procs: Map<number, ProcStat>, ours: Map<number | undefined, string>, database?: string): string {
  for (let at: number | undefined = pid, hops = 0; at && hops < 32; at = procs.get(at)?.ppid, hops++) {
    if (ours.has(at)) return ours.get(at)!;
    if (at === process.pid) return 'bench-client';
    if (at === 2) return 'kernel';
    const comm = procs.get(at)?.comm ?? '';
    if (comm === 'postgres') return database && backendDatabase(at) && backendDatabase(at) !== database ? 'postgres-other-db' : 'postgres';
    if (comm.startsWith('redis-server')) return 'redis';
    if (comm.startsWith('containerd-shim')) return 'containers';
    if (comm === 'dockerd' || comm === 'containerd' || comm.startsWith('runc')) return 'docker';
  }
  return 'other';
}

/** The database of a Postgres backend, from its title ("postgres: 15/main: user db host(port) state"); undefined for the server's own processes. */
function backendDatabase(pid: number): string | undefined {
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\u0000/g, ' ');
    const m = /^postgres: (?:[^:]+: )?(\S+) (\S+) (?:\[local\]|[\d.:a-f]+\(\d+\))/.exec(title);
    return m?.[2];
  } catch {
    return undefined;
  }
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}


/**
 * The benches empty their database and Redis database. The test suite's
 * (gpubatch_test, Redis db 15) may be in use by a concurrent test run, and
 * scripts/test.sh exports DATABASE_URL for it: refuse those outright.
 */
export function refuseSharedState(o: { databaseUrl: string; redisUrl: string }, defaultDatabaseUrl: string, defaultRedisUrl: string): void {
  const database = new URL(o.databaseUrl).pathname.replace(/^\//, '');
  const redisDb = Number(new URL(o.redisUrl).pathname.replace(/^\//, '') || 0);
  if (database === 'gpubatch_test' || redisDb === 15) {
    throw new Error(`refusing to wipe the test suite's state (database ${database}, Redis db ${redisDb}); ` +
      `unset DATABASE_URL/REDIS_URL to use ${defaultDatabaseUrl} and ${defaultRedisUrl}`);
  }
}

/** Empties the bench database (when migrated) and Redis database, so the scheduler sees only this run. */
/** What a cluster benchmark started, for `runClusterBench` to stop whatever happens. */
export interface ClusterBenchRun {
  /** A client of the benchmark's own database, reset before the body runs. */
  db: pg.Client;
  cluster?: LocalCluster;
  api?: ApiClient;
}

/**
 * The frame of a benchmark that runs the cluster's processes: it refuses the
 * test suite's database and Redis, resets its own, runs `body`, and whatever
 * happens closes the client, stops the cluster and disconnects (printing each
 * process's last output when the body failed). Exits the process with the
 * body's code, or 1 on failure.
 */
export function runClusterBench(
  o: { databaseUrl: string; redisUrl: string },
  defaults: { databaseUrl: string; redisUrl: string },
  progress: (message: string) => void,
  body: (run: ClusterBenchRun) => Promise<number>,
  options: { stopTimeoutMs?: number; tailLines?: number; cleanup?: () => void } = {},
): void {
  const { stopTimeoutMs = 60_000, tailLines = 10 } = options;
  const main = async (): Promise<number> => {
    refuseSharedState(o, defaults.databaseUrl, defaults.redisUrl);
    const run: ClusterBenchRun = { db: new pg.Client({ connectionString: o.databaseUrl }) };
    await run.db.connect();
    try {
      await resetState(run.db, o.redisUrl);
      return await body(run);
    } catch (err) {
      for (const p of run.cluster?.processes ?? []) progress(`${p.name} output (tail):\n${p.output.slice(-tailLines).join('')}`);
      throw err;
    } finally {
      run.api?.close();
      await run.cluster?.stop(stopTimeoutMs); // a no-op when the body stopped it
      await run.db.end();
      options.cleanup?.();
    }
  };
  main().then((code) => process.exit(code), (err: Error) => {
    progress(`failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}

export async function resetState(db: pg.Client, redisUrl: string): Promise<void> {
  const [{ exists }] = (await db.query(`SELECT to_regclass('public.jobs') IS NOT NULL AS exists`)).rows;
  if (exists) {
    await db.query(`TRUNCATE usage, job_logs, job_events, job_dependencies, job_attempts, gpu_holds, jobs, job_definitions, job_queues, workers RESTART IDENTITY CASCADE`);
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.flushdb(); // only the database selected in REDIS_URL
  } finally {
    redis.disconnect();
  }
}

/** Polls `check` until true; fails naming what it waited for, or with the output of a process that died meanwhile. */
export async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>, cluster: LocalCluster, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = cluster.processes.find((p) => p.child.exitCode !== null);
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${dead.output.join('')}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Waits until `n` jobs of the queue have finished, as Postgres (the truth)
 * has it, and returns the queue's jobs by status. Polled once a second and
 * counting finished jobs only: the run's figures come from the jobs' own
 * timestamps, not from when the poll noticed, and a poll every 100 ms that
 * grouped a 20,000-job queue took about half of Postgres's CPU in the run
 * it was measuring.
 */
export async function waitForFinished(db: pg.Client, queue: string, n: number, timeoutMs: number, cluster: LocalCluster): Promise<Record<string, number>> {
  await waitUntil(`${n} jobs to finish`, timeoutMs, async () => {
    const { rows: [r] } = await db.query(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('SUCCEEDED', 'FAILED') AND queue = $1`, [queue]);
    return r.n >= n;
  }, cluster, 1000);
  const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM jobs WHERE queue = $1 GROUP BY status`, [queue]);
  return Object.fromEntries(rows.map((r: { status: string; n: number }) => [r.status, r.n]));
}

// ---------------------------------------------------------------- submits

/** CPU milliseconds per job by process group, and `thisRun`: the run's own processes (not other processes, nor other databases' backends). */
export function cpuMsPerJob(cpu: ReturnType<CpuMonitor['stop']>, jobs: number): Record<string, number> {
  const round3 = (n: number) => Math.round(n * 1000) / 1000;
  const groups = Object.entries(cpu.cpuSeconds ?? {}).map(([g, s]) => [g, round3((s * 1000) / Math.max(1, jobs))] as const);
  const ours = groups.filter(([g]) => g !== 'other' && g !== 'postgres-other-db').reduce((sum, [, ms]) => sum + ms, 0);
  return { ...Object.fromEntries(groups), thisRun: round3(ours) };
}

/**
 * `count` single submits of `definition` to `queue` (one no worker serves)
 * from `clients` concurrent keep-alive clients, with each one's latency and
 * the CPU they cost by process group. Jobs are named `single-<i>`.
 */
export async function singleSubmits(api: ApiClient, cluster: LocalCluster, o: { count: number; clients: number; queue: string; definition: string; databaseName?: string }) {
  const latencies: number[] = [];
  const rejected: Record<string, number> = {};
  let next = 0;
  const loop = async () => {
    while (next < o.count) {
      const i = next++;
      const reply = await api.request('POST', '/api/v1/jobs', { name: `single-${i}`, queue: o.queue, definition: o.definition });
      if (reply.status === 201) latencies.push(reply.ms);
      else rejected[reply.status] = (rejected[reply.status] ?? 0) + 1;
    }
  };
  const load = os.loadavg()[0];
  const monitor = new CpuMonitor(cluster, o.databaseName).start();
  const started = performance.now();
  await Promise.all(Array.from({ length: o.clients }, loop));
  const wall = (performance.now() - started) / 1000;
  const cpu = monitor.stop();
  return {
    submits: o.count, clients: o.clients, loadAverage1mAtStart: Math.round(load * 100) / 100, accepted: latencies.length, rejected,
    acceptedPerSecond: Math.round((latencies.length / wall) * 10) / 10, requestLatencyMs: summarize(latencies), cpu, cpuMsPerJob: cpuMsPerJob(cpu, latencies.length),
  };
}
