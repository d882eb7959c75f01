import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataSource } from 'typeorm';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { runCli } from '../support/cli-runner.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { TEST_ADMIN_KEY, testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const GPU_STUBS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/gpu');
const SCRAPE_KEY = 'gpb_scrapetest_' + 'S'.repeat(43);
const MODEL = 'NVIDIA A100-SXM4-80GB';

/** `promtool check metrics` over the text: its exit code and what it said. */
function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

/** The value of one sample: `name{labels}` exactly as exposed (labels in prom-client's order), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/**
 * Prometheus metrics of the three processes and GPU utilisation per job,
 * over a known workload: the scraped text passes promtool and its figures
 * are the workload's. The worker's GPUs are the stub nvidia-smi's, reporting 0% busy.
 */
describe('end to end: /metrics of the API, scheduler and worker; GPU utilisation per job', () => {
  const QUEUE = 'metrics';
  const POOL = 'metrics';
  const WORKER = 'metrics-worker';
  let db: DataSource;
  let cluster: LocalCluster;
  let base: string;
  let call: ApiCall;
  let schedulerMetrics: string;
  let workerMetrics: string;
  const job = async (id: string) => (await call('GET', `/api/v1/jobs/${id}`)).body;
  const submit = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/api/v1/jobs', { queue: QUEUE, ...body });
    expect(res.status).toBe(201);
    return res.body.jobId as string;
  };
  const scrape = async (url: string, key?: string) => {
    const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  let idleJob: string;
  let failedJob: string;

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    const [schedulerPort, workerPort] = [await LocalCluster.freePort(), await LocalCluster.freePort()];
    schedulerMetrics = `http://127.0.0.1:${schedulerPort}/metrics`;
    workerMetrics = `http://127.0.0.1:${workerPort}/metrics`;
    ({ cluster, base, call } = await startCluster({ METRICS_PORT: String(schedulerPort) }, { GPUBATCH_SCRAPE_KEY: SCRAPE_KEY }));
    expect((await call('POST', '/api/v1/pools', { name: POOL, prices: { vcpuHour: '3.60', memoryGiBHour: '0', gpuHour: '36' } })).status).toBe(201);
    cluster.start('worker', {
      PATH: `${GPU_STUBS}:${process.env.PATH}`, WORKER_GPUS: 'auto',
      // Both GPUs idle: 0% busy, 12 MiB in use.
      GPUBATCH_FAKE_GPU_UTIL: '0, 0, 12\\n1, 0, 12', WORKER_GPU_SAMPLE_MS: '200',
      WORKER_ID: WORKER, WORKER_POOL: POOL, WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024',
      JOB_NETWORK_MODE: 'none', METRICS_PORT: String(workerPort),
    });
    await waitFor('the worker to join', async () => (await call('GET', `/api/v1/workers/${WORKER}`)).body?.state === 'ACTIVE', 30_000, 100);
    expect((await call('POST', '/api/v1/job-queues', { name: QUEUE, priority: 1, pools: [POOL] })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-definitions', {
      name: 'metrics-job', image: testEnv().testImage, command: ['sh', '-c', 'sleep Ref::wait; exit Ref::code'],
      parameters: { wait: '0', code: '0' }, resources: { vcpus: 0.5, memoryMiB: 32, gpus: 0 },
    })).status).toBe(201);

    // The workload: a GPU job that leaves its GPU idle, a failing job, one no worker can run, one waiting on it.
    idleJob = await submit({ name: 'idle-gpu', definition: 'metrics-job', parameters: { wait: '2' }, overrides: { resources: { gpus: 1 } } });
    failedJob = await submit({ name: 'fails', definition: 'metrics-job', parameters: { code: '3' } });
    const tooBig = await submit({ name: 'too-big', definition: 'metrics-job', overrides: { resources: { gpus: 8 } } });
    await submit({ name: 'after', definition: 'metrics-job', dependsOn: [{ jobId: tooBig }] });
    for (const id of [idleJob, failedJob]) {
      await waitFor(`job ${id} to finish`, async () => ['SUCCEEDED', 'FAILED'].includes((await job(id)).status), 60_000, 100);
    }
    await waitFor('the scheduler to give its reason', async () => (await job(tooBig)).statusReason?.startsWith('UNSCHEDULABLE'), 30_000, 100);
    // Two error replies of known kinds.
    expect((await fetch(`${base}/api/v1/jobs`, { headers: { authorization: 'Bearer gpb_nobody_' + 'x'.repeat(43) } })).status).toBe(401);
    expect((await call('POST', '/api/v1/jobs', { name: 'bad name!', queue: QUEUE, definition: 'metrics-job' })).status).toBe(400);
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    await db?.destroy();
  });

  it('serves the API metrics to a viewer of every project only: 401 without credentials, 403 for one project', async () => {
    expect((await scrape(`${base}/metrics`)).status).toBe(401);
    const member = await call('POST', '/api/v1/api-keys', { name: 'one-project', roles: [{ project: 'default', role: 'member' }] });
    expect(member.status).toBe(201);
    expect((await scrape(`${base}/metrics`, member.body.key)).status).toBe(403);
    const ok = await scrape(`${base}/metrics`, SCRAPE_KEY);
    expect(ok.status).toBe(200);
    expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('exposes text that promtool accepts, from all three processes', async () => {
    for (const [name, res] of [
      ['api', await scrape(`${base}/metrics`, SCRAPE_KEY)], ['scheduler', await scrape(schedulerMetrics)], ['worker', await scrape(workerMetrics)],
    ] as const) {
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
      expect(res.text).toContain('process_cpu_user_seconds_total');
      const checked = await promtool(res.text);
      expect({ name, ...checked }).toEqual({ name, code: 0, output: '' });
    }
  });

  it('counts what the workload did: submits, jobs by state, waiting reasons, GPUs, cost, errors', async () => {
    const api = (await scrape(`${base}/metrics`, SCRAPE_KEY)).text;
    expect(sample(api, `gpubatch_job_submits_total{queue="${QUEUE}",project="default"}`)).toBe(4);
    for (const [state, n] of [['SUCCEEDED', 1], ['FAILED', 1], ['RUNNABLE', 1], ['PENDING', 1]] as const) {
      expect({ state, n: sample(api, `gpubatch_jobs{queue="${QUEUE}",state="${state}"}`) }).toEqual({ state, n });
    }
    expect(sample(api, `gpubatch_waiting_jobs{queue="${QUEUE}",reason="UNSCHEDULABLE"}`)).toBe(1);
    expect(sample(api, `gpubatch_waiting_jobs{queue="${QUEUE}",reason="DEPENDENCY"}`)).toBe(1);
    expect(sample(api, `gpubatch_gpus{pool="${POOL}",model="${MODEL}"}`)).toBe(2);
    expect(sample(api, `gpubatch_gpus_allocated{pool="${POOL}",model="${MODEL}"}`)).toBe(0);
    const usage = (await call('GET', '/api/v1/usage?from=2000-01-01')).body;
    const usd = usage.totals.find((t: { currency: string }) => t.currency === 'USD');
    expect(Number(usd.cost)).toBeGreaterThan(0);
    expect(sample(api, 'gpubatch_cost_accrued{project="default",currency="USD"}')).toBeCloseTo(Number(usd.cost), 6);
    expect(sample(api, 'gpubatch_errors_total{kind="UNAUTHENTICATED"}')).toBe(2); // the bad key, and the anonymous scrape above
    expect(sample(api, 'gpubatch_errors_total{kind="VALIDATION_FAILED"}')).toBe(1);

    const scheduler = (await scrape(schedulerMetrics)).text;
    expect(sample(scheduler, 'gpubatch_scheduler_leader')).toBe(1);
    // Both jobs that ran started once each.
    expect(sample(scheduler, `gpubatch_submit_to_start_seconds_count{queue="${QUEUE}"}`)).toBe(2);
    expect(sample(scheduler, 'gpubatch_placement_pass_duration_seconds_count')).toBeGreaterThan(0);
    // Every pass runs intake before it places; only full passes (each interval, and when a worker joins or leaves) run
    // worker liveness, first. A scrape during a pass sees its earlier systems counted once more, never fewer.
    const intakeRuns = sample(scheduler, 'gpubatch_scheduler_system_duration_seconds_count{system="intake"}')!;
    expect(intakeRuns).toBeGreaterThanOrEqual(sample(scheduler, 'gpubatch_placement_pass_duration_seconds_count')!);
    const livenessRuns = sample(scheduler, 'gpubatch_scheduler_system_duration_seconds_count{system="worker liveness"}')!;
    expect(livenessRuns).toBeGreaterThan(0);
    expect(livenessRuns).toBeLessThanOrEqual(intakeRuns + 1);
    const age = sample(scheduler, `gpubatch_worker_heartbeat_age_seconds{worker="${WORKER}",pool="${POOL}"}`);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(15);

    const worker = (await scrape(workerMetrics)).text;
    expect(sample(worker, 'gpubatch_worker_running_attempts')).toBe(0);
    expect(sample(worker, 'gpubatch_worker_gpu_utilization_percent{gpu="0"}')).toBe(0);
    expect(sample(worker, 'gpubatch_worker_gpu_memory_used_mib{gpu="0"}')).toBe(12);
  });

  it('a job whose GPU stayed at 0% shows idle in its view, describe and the usage report', async () => {
    const idle = await job(idleJob);
    expect(idle.status).toBe('SUCCEEDED');
    expect(idle.gpuIdle).toBe(true);
    expect(idle.attempts[0].gpuUtilization).toMatchObject({ avgPercent: 0, peakPercent: 0, avgMemoryMiB: 12, peakMemoryMiB: 12, idleFraction: 1, idle: true });
    expect(idle.attempts[0].gpuUtilization.samples).toBeGreaterThanOrEqual(1);
    // No GPUs, nothing sampled.
    expect((await job(failedJob)).attempts[0].gpuUtilization).toBeNull();

    const env = { GPUBATCH_ENDPOINT: base, GPUBATCH_API_KEY: TEST_ADMIN_KEY };
    const described = await runCli(['describe', idleJob], env);
    expect(described.stdout).toMatch(/IDLE \(0% avg, 0% peak, 12 MiB peak\)/);

    const report = (await call('GET', '/api/v1/usage?from=2000-01-01&groupBy=project')).body;
    const row = report.rows.find((r: { project: string }) => r.project === 'default');
    // Every GPU-second it held was idle; the failing job held no GPU.
    expect(row.gpuHours).toBeGreaterThan(0);
    expect(row.idleGpuHours).toBe(row.gpuHours);
    const csv = await runCli(['usage', '--from', '2000-01-01', '--group-by', 'project', '--csv'], env);
    const [header, line] = csv.stdout.trimEnd().split('\r\n');
    expect(header.split(',').at(-1)).toBe('idleGpuHours');
    expect(Number(line.split(',').at(-1))).toBe(row.gpuHours);
  });
});
