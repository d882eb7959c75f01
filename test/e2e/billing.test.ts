import type { DataSource } from 'typeorm';
import { cost, ratesFor } from '#libs/core';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const SLEEP_SECONDS = 3;

/**
 * Billing through the three built apps and real containers: two pools with
 * different price cards, a job on each, usage rows that match the
 * containers' runtimes and the price cards.
 */
describe('end to end: billing by runtime', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let call: ApiCall;

  const startWorker = async (id: string, pool: string, gpus: string) => {
    cluster.start('worker', {
      WORKER_ID: id, WORKER_POOL: pool, WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '2048', WORKER_GPUS: gpus,
      JOB_NETWORK_MODE: 'none', WORKER_HEARTBEAT_MS: '500',
    }, id);
    await waitFor(`${id} to join`, async () => (await call('GET', `/api/v1/workers/${id}`)).body?.state === 'ACTIVE', 30_000, 100);
  };

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    ({ cluster, call } = await startCluster());
    expect((await call('POST', '/api/v1/pools', {
      name: 'bill-od', prices: { vcpuHour: '0.50', memoryGiBHour: '0.10', gpuHour: '2', gpuHourByModel: { A100: '4.10' } },
    })).status).toBe(201);
    expect((await call('POST', '/api/v1/pools', {
      name: 'bill-spot', capacityType: 'SPOT', minimumBilledSeconds: 60, prices: { vcpuHour: '0.15', memoryGiBHour: '0.03' },
    })).status).toBe(201);
    await startWorker('bill-gpu', 'bill-od', '[{"model":"A100","memoryMiB":81920}]');
    await startWorker('bill-cpu', 'bill-spot', 'none');
    for (const pool of ['bill-od', 'bill-spot']) {
      expect((await call('POST', '/api/v1/job-queues', { name: pool, priority: 1, pools: [pool] })).status).toBe(201);
    }
    expect((await call('POST', '/api/v1/job-definitions', {
      name: 'bill-sleep', image: testEnv().testImage, command: ['sleep', String(SLEEP_SECONDS)], resources: { vcpus: 1, memoryMiB: 512 },
    })).status).toBe(201);
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    await db.destroy();
  });

  it('bills each container its real runtime at its own pool\'s prices, to the cent', async () => {
    const submit = async (queue: string, gpus: number) => {
      const res = await call('POST', '/api/v1/jobs', {
        name: `bill-${queue}`, queue, definition: 'bill-sleep', project: 'billing-e2e', overrides: { resources: { gpus } },
      });
      expect(res.status).toBe(201);
      return res.body.jobId as string;
    };
    const onDemand = await submit('bill-od', 1);
    const spot = await submit('bill-spot', 0);
    for (const id of [onDemand, spot]) {
      await waitFor(`job ${id} to succeed`, async () => (await call('GET', `/api/v1/jobs/${id}`)).body.status === 'SUCCEEDED', 60_000, 200);
    }

    const cards = {
      'bill-od': { currency: 'USD', vcpuHour: '0.50', memoryGiBHour: '0.10', gpuHour: '2', gpuHourByModel: { A100: '4.10' }, minimumBilledSeconds: 0 },
      'bill-spot': { currency: 'USD', vcpuHour: '0.15', memoryGiBHour: '0.03', gpuHour: '0', gpuHourByModel: {}, minimumBilledSeconds: 60 },
    };
    for (const [id, pool, gpus] of [[onDemand, 'bill-od', 1], [spot, 'bill-spot', 0]] as const) {
      const rows = await db.query(`SELECT * FROM usage WHERE job_id = $1`, [id]);
      expect(rows).toHaveLength(1);
      const u = rows[0];
      expect(u).toMatchObject({ pool, gpus, project: 'billing-e2e', running: false, currency: 'USD' });
      // The container's runtime as Docker reported it (its clock may put `sleep 3` at 2.999 s), billed rounded up.
      const runtime = (u.stopped_at.getTime() - u.started_at.getTime()) / 1000;
      expect(runtime).toBeGreaterThan(SLEEP_SECONDS - 0.1);
      expect(runtime).toBeLessThan(SLEEP_SECONDS + 2);
      const expectedSeconds = Math.max(Math.ceil(runtime), cards[pool].minimumBilledSeconds);
      expect(u.billed_seconds).toBe(expectedSeconds);
      if (cards[pool].minimumBilledSeconds === 0) expect(u.billed_seconds - runtime).toBeLessThan(1);
      const expectedCost = cost(ratesFor(cards[pool], gpus ? 'A100' : null), { vcpus: 1, memoryMiB: 512, gpus }, expectedSeconds);
      expect(u.cost).toBe(expectedCost);
      // To the cent, by hand: seconds/3600 × hourly price of what the job held.
      const hourly = pool === 'bill-od' ? 0.5 + 0.05 + 4.1 : 0.15 + 0.015;
      expect(Number(u.cost)).toBeCloseTo((expectedSeconds / 3600) * hourly, 2);
      const detail = (await call('GET', `/api/v1/jobs/${id}`)).body;
      expect(detail.cost).toEqual({ USD: expectedCost });
      expect(detail.attempts[0].cost).toMatchObject({ billedSeconds: expectedSeconds, capacityType: pool === 'bill-spot' ? 'SPOT' : 'ON_DEMAND' });
    }
    const report = await call('GET', '/api/v1/usage?groupBy=pool');
    const [{ sum }] = await db.query(`SELECT sum(cost)::text AS sum FROM usage`);
    expect(report.body.totals).toEqual([expect.objectContaining({ currency: 'USD', attempts: 2, cost: sum })]);
  });
});
