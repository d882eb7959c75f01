import { sweepFinishedJobs } from '../../apps/scheduler/src/retention/retention-sweep.js';
import { schedulerTestbed } from '../support/scheduler-testbed.js';
import { waitFor } from '../support/wait-for.js';
import { driveJob } from '../support/lifecycle-fixtures.js';

const A100 = (index: number) => ({ index, uuid: null, model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920 });

describe('metering, budgets and quotas in the scheduler (real Postgres and Redis)', () => {
  const bed = schedulerTestbed();
  const { start, submit, job } = bed;
  const usageRows = (id: string) => bed.db.query(`SELECT * FROM usage WHERE job_id = $1`, [id]);
  const exited = (jobId: string, workerId: string, startedAt: string, stoppedAt: string) => ({
    type: 'attempt-exited' as const, jobId, attempt: 1, workerId, containerId: 'c', startedAt, stoppedAt,
    end: { kind: 'exited' as const, exitCode: 0, oomKilled: false }, logs: [], logsTruncated: false,
  });

  it('bills an attempt at the rates of its pool when it started, exactly once across a repeated report and a scheduler restart', async () => {
    await bed.api.post('/api/v1/pools', {
      name: 'gpu-od', prices: { vcpuHour: '0.36', memoryGiBHour: '0.036', gpuHour: '1', gpuHourByModel: { A100: '3.60' } },
    });
    await bed.worker.join({ id: 'w-od', pool: 'gpu-od', vcpus: 8, gpus: [A100(0), A100(1)] });
    const f = await bed.api.fixture({ resources: { vcpus: 2, memoryMiB: 2048, gpus: 1 } }, { pools: ['gpu-od'] });
    const id = await submit(f.queue, f.definition, { project: 'vision', tags: { team: 'cv' } });
    await start();
    await waitFor('placement', async () => (await job(id)).status === 'STARTING');

    const startedAt = '2026-11-21T10:00:00.250Z';
    await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-od', containerId: 'c', startedAt });
    await waitFor('the meter to open', async () => (await usageRows(id)).length === 1);
    // A price change while it runs applies to later attempts, not this one.
    await bed.api.request('PATCH', '/api/v1/pools/gpu-od', { prices: { gpuHourByModel: { A100: '9.99' } } });
    await bed.stopSchedulers();
    await start();

    const report = exited(id, 'w-od', startedAt, '2026-11-21T10:01:40.750Z');
    await bed.worker.report(report);
    await waitFor('SUCCEEDED', async () => (await job(id)).status === 'SUCCEEDED');
    await bed.worker.report({ ...report, stoppedAt: '2026-11-21T11:00:00.000Z' });
    await waitFor('the repeated report to be consumed', () => bed.worker.reportsConsumed());

    const rows = await usageRows(id);
    expect(rows).toHaveLength(1);
    // 100.5 s billed as 101 s: 101/3600 × (2 × 0.36 + 2 GiB × 0.036 + 1 × 3.60) = 0.123220
    expect(rows[0]).toMatchObject({
      project: 'vision', queue: f.queue, definition: f.definition, pool: 'gpu-od', capacity_type: 'ON_DEMAND', tags: { team: 'cv' },
      gpus: 1, gpu_model: 'NVIDIA A100-SXM4-80GB', billed_seconds: 101, currency: 'USD', gpu_hour: '3.600000', cost: '0.123220', running: false,
      started_at: new Date(startedAt), stopped_at: new Date('2026-11-21T10:01:40.750Z'),
    });
    const detail = await job(id);
    expect(detail.cost).toEqual({ USD: '0.123220' });
    expect(detail.costFinal).toBe(true);
    expect(detail.attempts[0].cost).toMatchObject({ amount: '0.123220', billedSeconds: 101, running: false, rates: { gpuHour: '3.600000' } });
    const byTeam = await bed.api.get('/api/v1/usage?from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&groupBy=tag:team,gpuModel');
    expect(byTeam.body.rows).toEqual([expect.objectContaining({ 'tag:team': 'cv', gpuModel: 'NVIDIA A100-SXM4-80GB', cost: '0.123220', attempts: 1 })]);
  });

  it('accrues the cost of a running attempt so it shows before the attempt ends', async () => {
    await bed.api.post('/api/v1/pools', { name: 'cpu', prices: { vcpuHour: '1' } });
    await bed.worker.join({ id: 'w-cpu', pool: 'cpu' });
    const f = await bed.api.fixture({ resources: { vcpus: 2, memoryMiB: 64 } });
    const id = await submit(f.queue, f.definition);
    await start({ USAGE_ACCRUAL_SECONDS: '1' });
    await waitFor('placement', async () => (await job(id)).status === 'STARTING');
    // Started three hours ago (a long training run): two vCPUs at 1 per hour have cost at least 6 so far.
    await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-cpu', containerId: 'c', startedAt: new Date(Date.now() - 3 * 3600_000).toISOString() });
    const detail = await waitFor('accrued cost', async () => {
      const j = await job(id);
      return Number(j.cost.USD ?? 0) >= 6 ? j : undefined;
    });
    expect(detail.costFinal).toBe(false);
    expect(detail.attempts[0].cost).toMatchObject({ running: true, currency: 'USD' });
    expect(detail.attempts[0].cost.billedSeconds).toBeGreaterThanOrEqual(3 * 3600);
    const report = await bed.api.get('/api/v1/usage?groupBy=project');
    expect(report.body.rows[0]).toMatchObject({ project: 'default', includesRunning: true });
    expect(Number(report.body.rows[0].cost)).toBeGreaterThanOrEqual(6);

    // A meter lost between recording the start and opening it (a scheduler that stopped in between) is opened by the accrual.
    await bed.db.query(`DELETE FROM usage WHERE job_id = $1`, [id]);
    await waitFor('the meter reopened', async () => Number((await job(id)).cost.USD ?? 0) >= 6);
  });

  it('adds up an array job\'s cost from its children', async () => {
    await bed.api.post('/api/v1/pools', { name: 'cpu', prices: { vcpuHour: '3.6' } });
    await bed.worker.join({ id: 'w-arr', pool: 'cpu', vcpus: 2 });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    const parent = await submit(f.queue, f.definition, { array: { size: 2 } });
    await start();
    await waitFor('both children placed', async () => (await bed.worker.dispatched('w-arr')).length === 2);
    for (const [i, seconds] of [[0, 10], [1, 20]]) {
      const t0 = new Date('2026-11-21T10:00:00Z');
      const id = `${parent}:${i}`;
      await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-arr', containerId: 'c', startedAt: t0.toISOString() });
      await bed.worker.report(exited(id, 'w-arr', t0.toISOString(), new Date(t0.getTime() + seconds * 1000).toISOString()));
    }
    const detail = await waitFor('the array to succeed', async () => {
      const j = await job(parent);
      return j.status === 'SUCCEEDED' ? j : undefined;
    });
    // 1 vCPU at 3.60 an hour is 0.001 a second: 10 s + 20 s.
    expect(detail.cost).toEqual({ USD: '0.030000' });
    expect(detail.costFinal).toBe(true);
  });

  it('keeps a project at its GPU quota waiting with QUOTA while others use free GPUs, and starts it when a GPU frees', async () => {
    await bed.api.post('/api/v1/projects', { name: 'vision', gpuQuota: 1 });
    await bed.worker.join({ id: 'w-q', vcpus: 8, gpus: [A100(0), A100(1), A100(2)] });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64, gpus: 1 } });
    const first = await submit(f.queue, f.definition, { project: 'vision' });
    const second = await submit(f.queue, f.definition, { project: 'vision' });
    const other = await submit(f.queue, f.definition, { project: 'nlp' });
    await start();
    const waiting = await waitFor('the QUOTA reason', async () => {
      const j = await job(second);
      return j.statusReason?.startsWith('QUOTA') ? j : undefined;
    });
    expect(waiting).toMatchObject({ status: 'RUNNABLE', statusReason: 'QUOTA: project vision holds 1/1 GPUs; this job needs 1' });
    expect((await job(other)).status).toBe('STARTING');
    expect((await bed.api.get('/api/v1/projects/vision')).body).toMatchObject({ gpuQuota: 1, gpusHeld: 1 });

    const t = new Date().toISOString();
    await bed.worker.report({ type: 'attempt-running', jobId: first, attempt: 1, workerId: 'w-q', containerId: 'c', startedAt: t });
    await bed.worker.report(exited(first, 'w-q', t, new Date(Date.now() + 1000).toISOString()));
    await waitFor('the second vision job placed once the first freed its GPU', async () => (await job(second)).status === 'STARTING');
  });

  it('starts no job of a project that spent its monthly budget, with the BUDGET reason, until the budget is raised', async () => {
    await bed.api.post('/api/v1/projects', { name: 'ml', monthlyBudget: '1000' });
    await bed.db.query(
      `INSERT INTO usage (job_id, attempt, project, queue, definition, worker_id, pool, vcpus, memory_mib, gpus, started_at, stopped_at, billed_seconds, cost)
       VALUES ('earlier-job', 1, 'ml', 'q', 'd', 'w', 'default', 1, 64, 8, now(), now(), 3600, 1002.4)`,
    );
    await bed.worker.join({ id: 'w-b' });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    const id = await submit(f.queue, f.definition, { project: 'ml' });
    await start();
    const month = new Date().toISOString().slice(0, 7);
    await waitFor('the BUDGET reason', async () => (await job(id)).statusReason === `BUDGET: project ml spent 1,002.40 of 1,000.00 USD in ${month}`);
    expect((await bed.api.get('/api/v1/projects/ml')).body).toMatchObject({ spentThisMonth: '1002.400000', monthlyBudget: '1000.000000' });
    await bed.api.request('PATCH', '/api/v1/projects/ml', { monthlyBudget: '2000' });
    await waitFor('placement within the project refresh', async () => (await job(id)).status === 'STARTING', 20_000);
  });

  it('runs interruptible jobs on SPOT pools first and keeps other jobs off them when the queue says so', async () => {
    await bed.api.post('/api/v1/pools', { name: 'od', prices: { vcpuHour: '1' } });
    await bed.api.post('/api/v1/pools', { name: 'spot', capacityType: 'SPOT', prices: { vcpuHour: '0.3' } });
    await bed.worker.join({ id: 'w-od', pool: 'od', vcpus: 1 });
    await bed.worker.join({ id: 'w-spot', pool: 'spot', vcpus: 2 });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } }, { pools: ['od', 'spot'], preferSpotForInterruptible: true });
    const steady = await submit(f.queue, f.definition);
    const cheap = await submit(f.queue, f.definition, { interruptible: true });
    const blocked = await submit(f.queue, f.definition);
    await start();
    await waitFor('two placements', async () => (await bed.worker.dispatched('w-od')).length + (await bed.worker.dispatched('w-spot')).length === 2);
    expect((await bed.worker.dispatched('w-od')).map((d) => d.jobId)).toEqual([steady]);
    expect((await bed.worker.dispatched('w-spot')).map((d) => d.jobId)).toEqual([cheap]);
    // A free SPOT vCPU remains, but a job that is not interruptible waits for ON_DEMAND capacity.
    await waitFor('a reason', async () => (await job(blocked)).statusReason?.startsWith('RESOURCE'));
    expect((await job(blocked)).status).toBe('RUNNABLE');
  });

  it('removes finished jobs past retention with their history, and keeps their usage rows', async () => {
    const f = await bed.api.fixture();
    const old = await submit(f.queue, f.definition);
    const recent = await submit(f.queue, f.definition);
    const pending = await submit(f.queue, f.definition);
    await driveJob(bed.db, old, 'SUCCEEDED');
    await driveJob(bed.db, recent, 'SUCCEEDED');
    await bed.db.query(`UPDATE jobs SET stopped_at = now() - interval '40 days' WHERE id = $1`, [old]);
    await bed.db.query(`UPDATE jobs SET stopped_at = now() - interval '2 days' WHERE id = $1`, [recent]);
    await bed.db.query(`INSERT INTO job_logs (job_id, attempt, stream, at, text) VALUES ($1, 1, 'stdout', now(), 'bye')`, [old]);
    await bed.db.query(
      `INSERT INTO usage (job_id, attempt, project, queue, definition, worker_id, pool, vcpus, memory_mib, gpus, started_at, stopped_at, billed_seconds, cost)
       VALUES ($1, 1, 'default', 'q', 'd', 'w', 'default', 1, 64, 0, now(), now(), 5, 0.5)`, [old],
    );

    expect(await sweepFinishedJobs(bed.db, new Date(Date.now() - 30 * 86_400_000))).toBe(1);
    expect((await bed.api.get(`/api/v1/jobs/${old}`)).status).toBe(404);
    expect((await bed.api.get(`/api/v1/jobs/${recent}`)).status).toBe(200);
    expect((await bed.api.get(`/api/v1/jobs/${pending}`)).status).toBe(200);
    expect(await bed.db.query(`SELECT count(*)::int AS n FROM job_logs WHERE job_id = $1`, [old])).toEqual([{ n: 0 }]);
    expect(await usageRows(old)).toEqual([expect.objectContaining({ job_id: old, cost: '0.5' })]);
  });
});
