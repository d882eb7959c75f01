/**
 * What authentication costs a submit: POST /api/v1/jobs throughput and
 * latency of this build's API (guard, key check, rate limit, project check,
 * audit of the write) against a build without auth (`--baseline <repo dir>`,
 * e.g. the commit before identity, built with `npx tsc -p tsconfig.build.json`).
 * Both get the same requests, Authorization header included (the baseline
 * ignores it), in alternating rounds, against the same Postgres and Redis;
 * no scheduler runs, so submits are the only load.
 *
 *   node dist/scripts/bench/auth.bench.js --baseline /tmp/gpb-noauth [--submits 3000] [--clients 16] [--rounds 3]
 *
 * Or, without a baseline, `--profile`: this build alone under the V8 CPU
 * profiler (`node --cpu-prof`), reporting the share of the API's sampled CPU
 * spent in the authentication code (apps/api/src/auth: guard, key check,
 * rate limit, project check, audit batching) and what calls from it. A
 * share of the process's own samples does not move with other load on the
 * machine, as throughput does.
 *
 *   node dist/scripts/bench/auth.bench.js --profile [--submits 3000] [--clients 16]
 *
 * It uses the database in DATABASE_URL and the Redis database in REDIS_URL
 * (default gpubatch_bench and 14) and adds jobs to them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalCluster } from '../lib/local-cluster.js';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    profile: { type: 'boolean', default: false },
    submits: { type: 'string', default: '3000' },
    clients: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
  },
});
if (!values.baseline && !values.profile) throw new Error('--baseline <repo dir with a built API without auth>, or --profile, is required');
const SUBMITS = Number(values.submits);
const CLIENTS = Number(values.clients);
const ROUNDS = Number(values.rounds);
const KEY = `gpb_bench_${randomBytes(32).toString('base64url')}`;
const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const env = {
  PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn',
  DATABASE_URL: process.env.DATABASE_URL || 'postgres://gpubatch:gpubatch@127.0.0.1:5432/gpubatch_bench',
  REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379/14',
  GPUBATCH_ADMIN_KEY: KEY, RATE_LIMIT_REQUESTS: '100000000',
};

async function startApi(root: string, nodeArgs: string[] = []): Promise<{ base: string; child: ChildProcess }> {
  const port = await LocalCluster.freePort();
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'dist/apps/api/src/main.js')], {
    env: { ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try { if ((await fetch(`${base}/health/ready`)).ok) return { base, child }; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`API in ${root} did not start`);
}

function request(agent: http.Agent, base: string, method: string, url: string, body: unknown): Promise<{ status: number; ms: number }> {
  const payload = JSON.stringify(body);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(base + url, {
      method, agent,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** CPU seconds (user + system) the process has used: less sensitive to other load on the machine than throughput. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Result { perSecond: number; p50: number; p99: number; apiCpuMsPerSubmit: number }

async function run(root: string, label: string, round: number, nodeArgs: string[] = []): Promise<Result> {
  const { base, child } = await startApi(root, nodeArgs);
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    const suffix = `${label}-${round}-${randomBytes(3).toString('hex')}`;
    await request(agent, base, 'POST', '/api/v1/job-queues', { name: `ab-${suffix}`, priority: 1 });
    await request(agent, base, 'POST', '/api/v1/job-definitions', { name: `ab-${suffix}`, image: 'x', command: ['true'], resources: { vcpus: 1, memoryMiB: 64 } });
    const submit = () => request(agent, base, 'POST', '/api/v1/jobs', { name: 'ab', queue: `ab-${suffix}`, definition: `ab-${suffix}` });
    for (let i = 0; i < 200; i++) await submit(); // warm-up: JIT, pools, caches
    let next = 0;
    const latencies: number[] = [];
    const cpuBefore = cpuSeconds(child.pid!);
    const started = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (next++ < SUBMITS) {
        const r = await submit();
        if (r.status !== 201) throw new Error(`${label}: submit answered ${r.status}`);
        latencies.push(r.ms);
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const apiCpuMsPerSubmit = ((cpuSeconds(child.pid!) - cpuBefore) * 1000) / SUBMITS;
    agent.destroy();
    latencies.sort((a, b) => a - b);
    return { apiCpuMsPerSubmit, perSecond: SUBMITS / seconds, p50: latencies[Math.floor(latencies.length * 0.5)]!, p99: latencies[Math.floor(latencies.length * 0.99)]! };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string }; children?: number[] }

/** Of the profile's samples, the share whose stack holds a frame of the auth code, and the functions they were in. */
function authShare(file: string): { share: number; samples: number; top: [string, number][] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const isAuth = (n: ProfileNode) => /\/apps\/api\/src\/auth\//.test(n.callFrame.url);
  const underAuth = new Map<number, boolean>();
  const inAuth = (id: number): boolean => {
    const known = underAuth.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    const up = parent.get(id);
    const result = isAuth(n) || (up !== undefined && inAuth(up));
    underAuth.set(id, result);
    return result;
  };
  const idle = (n: ProfileNode) => n.callFrame.functionName === '(idle)';
  let busy = 0;
  let auth = 0;
  const where = new Map<string, number>();
  for (const id of profile.samples) {
    const n = byId.get(id)!;
    if (idle(n)) continue;
    busy++;
    if (!inAuth(id)) continue;
    auth++;
    const name = `${n.callFrame.functionName || '(anonymous)'} ${path.basename(n.callFrame.url) || ''}`.trim();
    where.set(name, (where.get(name) ?? 0) + 1);
  }
  return { share: auth / busy, samples: busy, top: [...where].sort((a, b) => b[1] - a[1]).slice(0, 12) };
}

if (values.profile) {
  const dir = mkdtempSync(path.join(tmpdir(), 'gpubatch-auth-prof-'));
  const r = await run(HERE, 'profile', 0, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200']);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no CPU profile was written in ${dir}`);
  const share = authShare(path.join(dir, file));
  console.log(JSON.stringify({
    benchmark: 'gpubatch auth share of API CPU on submit', at: new Date().toISOString(), submits: SUBMITS, clients: CLIENTS,
    submitsPerSecond: Math.round(r.perSecond), apiCpuMsPerSubmit: Number(r.apiCpuMsPerSubmit.toFixed(3)),
    busySamples: share.samples, authShareOfApiCpu: `${(share.share * 100).toFixed(2)}%`,
    authCpuMsPerSubmit: Number((share.share * r.apiCpuMsPerSubmit).toFixed(4)),
    inAuthBy: Object.fromEntries(share.top), profile: path.join(dir, file),
  }, null, 2));
  process.exit(0);
}

const results: Record<string, Result[]> = { baseline: [], auth: [] };
for (let round = 0; round < ROUNDS; round++) {
  // Alternating order, so that neither side always runs on the warmer (or fuller) database.
  const order: [string, string][] = round % 2 === 0 ? [['baseline', values.baseline!], ['auth', HERE]] : [['auth', HERE], ['baseline', values.baseline!]];
  for (const [label, root] of order) {
    const r = await run(root, label, round);
    results[label]!.push(r);
    console.log(`round ${round + 1} ${label}: ${r.perSecond.toFixed(0)} submits/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, API CPU ${r.apiCpuMsPerSubmit.toFixed(3)} ms/submit`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(results.baseline!.map((r) => r.perSecond));
const auth = median(results.auth!.map((r) => r.perSecond));
console.log(JSON.stringify({
  benchmark: 'gpubatch auth cost on submit', at: new Date().toISOString(), submits: SUBMITS, clients: CLIENTS, rounds: ROUNDS,
  baselineSubmitsPerSecond: Math.round(base), authSubmitsPerSecond: Math.round(auth),
  change: `${(((auth - base) / base) * 100).toFixed(1)}%`,
  baselineP50Ms: median(results.baseline!.map((r) => r.p50)), authP50Ms: median(results.auth!.map((r) => r.p50)),
  baselineApiCpuMsPerSubmit: median(results.baseline!.map((r) => r.apiCpuMsPerSubmit)), authApiCpuMsPerSubmit: median(results.auth!.map((r) => r.apiCpuMsPerSubmit)),
}, null, 2));
