/**
 * Usage report benchmark: a month's cost report (`GET /api/v1/usage`) over a
 * large usage table, through UsageService.report itself (called with a
 * DataSource, so the SQL is exactly what the API runs).
 *
 *   Data:    --rows usage rows (default 1,000,000) started in --month (default
 *            2026-11), plus --rows/10 in each month before and after: 20
 *            projects, 8 queues, 4 pools, GPU models or none, a `team` tag,
 *            60 s to 3 days billed, 0.5% running. Loaded by INSERT ... SELECT
 *            FROM generate_series (the usage table's trigger fills the daily
 *            rollup as it would in production), then VACUUM ANALYZE; kept
 *            between runs unless the row count differs or --reload is given.
 *   Measure: a warm-up, then --runs reports grouped by project,day (p50, p95,
 *            max), and one run each of three other groupings for context.
 *            EXPLAIN (ANALYZE, BUFFERS) of the main query goes to stderr.
 *
 * Prints one JSON object on stdout (progress goes to stderr). It asserts
 * nothing about time: the figures are for docs/benchmarks.md.
 *
 *   npm run build && npm run bench:usage -- [--rows 1000000] [--runs 20] [--month 2026-11] [--reload]
 *
 * It applies the migrations to, and TRUNCATES the usage table of, the database
 * in DATABASE_URL; the default is the bench's own (gpubatch_bench).
 */
import 'reflect-metadata';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource, runMigrations } from '#libs/db';
import { UsageService } from '../../apps/api/src/usage/usage.service.js';

const DEFAULT_DATABASE_URL = 'postgres://gpubatch:gpubatch@127.0.0.1:5432/gpubatch_bench';
const MAIN_GROUPING = 'project,day';
const CONTEXT_GROUPINGS = ['project', 'project,queue,pool,gpuModel,day', 'tag:team'];

const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;

function readOptions() {
  const { values } = parseArgs({ options: {
    rows: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '20' },
    month: { type: 'string', default: '2026-11' }, reload: { type: 'boolean', default: false },
  } });
  const int = (name: string, raw: string, min: number) => {
    if (!Number.isInteger(Number(raw)) || Number(raw) < min) throw new Error(`--${name} must be an integer >= ${min}, got ${raw}`);
    return Number(raw);
  };
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(values.month!)) throw new Error(`--month must be YYYY-MM, got ${values.month}`);
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  // The test suite's database may be in use by a concurrent test run: never touch it.
  if (new URL(databaseUrl).pathname.replace(/^\//, '') === 'gpubatch_test') {
    throw new Error(`refusing to load the test suite's database gpubatch_test; unset DATABASE_URL to use ${DEFAULT_DATABASE_URL}`);
  }
  return { databaseUrl, rows: int('rows', values.rows!, 1), runs: int('runs', values.runs!, 1), month: values.month!, reload: values.reload! };
}

/** Creates the bench database when it does not exist yet (the role has CREATEDB). */
async function ensureDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  const name = decodeURIComponent(admin.pathname.replace(/^\//, ''));
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  await client.end();
}

/** Month boundaries (UTC) of the month `offset` months after `month` (YYYY-MM). */
function monthRange(month: string, offset: number): [Date, Date] {
  const [y, m] = month.split('-').map(Number);
  return [new Date(Date.UTC(y, m - 1 + offset, 1)), new Date(Date.UTC(y, m + offset, 1))];
}

/** n rows started uniformly in [from, to); every random() sits in a subquery that is not flattened, so it is drawn once per row. */
const LOAD_SQL = `
  INSERT INTO usage (job_id, attempt, worker_id, pool, capacity_type, vcpus, memory_mib, gpus, gpu_model, started_at, stopped_at,
                     billed_seconds, project, queue, definition, tags, currency, vcpu_hour, memory_gib_hour, gpu_hour, cost, running)
  SELECT $4 || g, 1 + (g % 17 = 0)::int, 'bench-w' || w, pool, CASE pool WHEN 'spot' THEN 'SPOT' ELSE 'ON_DEMAND' END,
         vcpus, (vcpus * 4096)::int, gpus, model, started, started + billed * interval '1 second', billed,
         'project-' || lpad(proj::text, 2, '0'), (ARRAY['default','training','inference','eval','etl','research','batch','urgent'])[1 + q],
         -- A project has its own 4 definitions and belongs to one of 6 teams.
         'project-' || lpad(proj::text, 2, '0') || '-def-' || d, jsonb_build_object('team', 'team-' || proj % 6, 'env', e), 'USD',
         vcpu_hour, 0.005, gpu_hour, round((vcpus * vcpu_hour + vcpus * 4 * 0.005 + gpus * gpu_hour) * billed / 3600.0, 6), random() < 0.005
  FROM (
    SELECT *, CASE pool WHEN 'spot' THEN 0.012 ELSE 0.040 END AS vcpu_hour,
           CASE model WHEN 'H100' THEN 4.5 WHEN 'A100' THEN 2.9 WHEN 'L4' THEN 0.8 WHEN 'A10G' THEN 1.0 ELSE 0 END
             * CASE pool WHEN 'spot' THEN 0.35 ELSE 1 END AS gpu_hour,
           CASE WHEN gpus = 0 THEN (ARRAY[1,2,4,8,16,32,64])[1 + floor(random() * 7)::int] ELSE gpus * 8 END::numeric AS vcpus
    FROM (
      SELECT g, pool, CASE WHEN pool = 'cpu' THEN 0 ELSE (ARRAY[1,1,1,1,2,2,4,8])[1 + floor(random() * 8)::int] END AS gpus,
             CASE pool WHEN 'cpu' THEN NULL WHEN 'a100' THEN 'A100' WHEN 'h100' THEN 'H100' ELSE (ARRAY['L4','A10G'])[1 + floor(random() * 2)::int] END AS model,
             $1::timestamptz + ($2::timestamptz - $1::timestamptz) * random() AS started,
             60 + floor(power(random(), 4) * (259200 - 60))::int AS billed,
             1 + floor(power(random(), 1.5) * 20)::int AS proj, floor(random() * 8)::int AS q, floor(random() * 4)::int AS d,
             CASE WHEN random() < 0.8 THEN 'prod' ELSE 'dev' END AS e, floor(random() * 250)::int AS w
      FROM (SELECT g, (ARRAY['cpu','a100','h100','spot'])[1 + floor(random() * 4)::int] AS pool FROM generate_series(1, $3::int) g) s0
    ) s1
  ) s2`;

async function load(db: DataSource, o: ReturnType<typeof readOptions>) {
  const segments = [[-1, Math.floor(o.rows / 10)], [0, o.rows], [1, Math.floor(o.rows / 10)]] as const;
  const expected = segments.reduce((s, [, n]) => s + n, 0);
  const [{ count }] = await db.query('SELECT count(*)::int AS count FROM usage');
  if (count === expected && !o.reload) return { rows: count, loaded: false }; // --reload forces a reload
  const started = performance.now();
  await db.query('TRUNCATE usage RESTART IDENTITY');
  for (const [offset, n] of segments) {
    const [from, to] = monthRange(o.month, offset);
    progress(`inserting ${n} rows started in ${from.toISOString().slice(0, 7)}`);
    await db.query(LOAD_SQL, [from, to, n, `bench-${from.toISOString().slice(0, 7)}-`]);
  }
  progress('VACUUM ANALYZE usage, usage_daily');
  await db.query('VACUUM ANALYZE usage');
  await db.query('VACUUM ANALYZE usage_daily');
  return { rows: expected, loaded: true, loadSeconds: round((performance.now() - started) / 1000) };
}

/** Nearest-rank percentiles, in ms rounded to 0.1. */
function summarize(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return { runs: sorted.length, p50: round(rank(50)), p95: round(rank(95)), max: round(sorted.at(-1)!), min: round(sorted[0]) };
}

async function main(): Promise<void> {
  const o = readOptions();
  const loadAverageBefore = os.loadavg().map((l) => round(l, 2));
  await ensureDatabase(o.databaseUrl);
  const db = createDataSource(o.databaseUrl, 2);
  await db.initialize();
  try {
    await runMigrations(db);
    const data = await load(db, o);
    const [from, to] = monthRange(o.month, 0).map((d) => d.toISOString());
    const service = new UsageService(db);
    const report = async (groupBy: string) => {
      const t0 = performance.now();
      const r = await service.report({ from, to, groupBy });
      return { ms: performance.now() - t0, rows: r.rows.length, attempts: r.totals.reduce((s, t) => s + t.attempts, 0) };
    };

    progress(`warm-up, then ${o.runs} timed reports grouped by ${MAIN_GROUPING}`);
    const warmup = await report(MAIN_GROUPING);
    const times: number[] = [];
    while (times.length < o.runs) times.push((await report(MAIN_GROUPING)).ms);
    const context: Record<string, { ms: number; rowsReturned: number }> = {};
    for (const g of CONTEXT_GROUPINGS) await report(g).then((r) => (context[g] = { ms: round(r.ms), rowsReturned: r.rows }));

    // The main query's statements, captured from the service itself, then replayed with the last one explained.
    const statements: { sql: string; params?: unknown[] }[] = [];
    const recorder = {
      transaction: <T>(work: (tx: { query: (sql: string, params?: unknown[]) => Promise<T> }) => Promise<T>) =>
        db.transaction((tx) => work({ query: (sql, params) => { statements.push({ sql, params }); return tx.query(sql, params); } })),
    };
    await new UsageService(recorder as unknown as DataSource).report({ from, to, groupBy: MAIN_GROUPING });
    const plan: string[] = await db.transaction(async (tx) => {
      for (const st of statements.slice(0, -1)) await tx.query(st.sql, st.params);
      const last = statements.at(-1)!;
      return (await tx.query(`EXPLAIN (ANALYZE, BUFFERS) ${last.sql}`, last.params)).map((r: Record<string, string>) => r['QUERY PLAN']);
    });
    progress(`EXPLAIN (ANALYZE, BUFFERS), groupBy=${MAIN_GROUPING}:\n${plan.join('\n')}`);
    const planValue = (re: RegExp) => plan.map((l) => re.exec(l)?.[1]).find((v) => v !== undefined);

    const settings = Object.fromEntries((await db.query(`SELECT name, current_setting(name) AS value FROM pg_settings
      WHERE name IN ('work_mem', 'shared_buffers', 'max_parallel_workers_per_gather', 'jit', 'effective_cache_size')`)).map((r: any) => [r.name, r.value]));
    const [{ version, size, rollupSize, rollupRows }] = await db.query(
      `SELECT version(), pg_size_pretty(pg_total_relation_size('usage')) AS size,
              pg_size_pretty(pg_total_relation_size('usage_daily')) AS "rollupSize", (SELECT count(*)::int FROM usage_daily) AS "rollupRows"`,
    );
    console.log(JSON.stringify({
      benchmark: 'gpubatch usage report', at: new Date().toISOString(),
      machine: {
        cpuModel: os.cpus()[0]?.model ?? 'unknown', cpuCount: os.cpus().length, totalMemoryGiB: round(os.totalmem() / 2 ** 30),
        os: `${os.type()} ${os.release()} ${os.arch()}`, node: process.version, postgres: version, postgresSettings: settings,
        loadAverageBefore, loadAverageAfter: os.loadavg().map((l) => round(l, 2)),
      },
      options: { rows: o.rows, runs: o.runs, month: o.month, reload: o.reload },
      data: { ...data, tableSize: size, rollupRows, rollupSize, period: { from, to } },
      target: `groupBy=${MAIN_GROUPING} p50 under 500 ms`,
      [MAIN_GROUPING]: { ...summarize(times), warmupMs: round(warmup.ms), rowsReturned: warmup.rows, attemptsInPeriod: warmup.attempts },
      context,
      explain: {
        planningMs: Number(planValue(/Planning Time: ([\d.]+)/)), executionMs: Number(planValue(/Execution Time: ([\d.]+)/)),
        workersPlanned: Number(planValue(/Workers Planned: (\d+)/) ?? 0), workersLaunched: Number(planValue(/Workers Launched: (\d+)/) ?? 0),
        jitMs: Number(planValue(/Timing: .*Total ([\d.]+) ms/) ?? 0), sortsSpilledToDisk: plan.filter((l) => /external merge/.test(l)).length,
        nodes: plan.map((l) => /^\s*(?:->\s+)?([A-Z][A-Za-z ]*?)(?: on \w+)?\s+\(cost=/.exec(l)?.[1]).filter(Boolean),
      },
    }, null, 2));
  } finally {
    await db.destroy();
  }
}

main().then(() => process.exit(0), (err: Error) => {
  progress(`failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
