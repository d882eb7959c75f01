import { randomUUID } from 'node:crypto';
import { ApiHarness } from '../support/api-harness.js';
import { resetState } from '../support/reset.js';

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

describe('pools, projects, usage reports and cost estimates (API, real Postgres)', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await ApiHarness.start();
    await resetState(api.db);
  });
  afterAll(async () => { await api.close(); });
  const patch = (url: string, body: unknown) => api.request('PATCH', url, body);

  describe('pools', () => {
    it('creates a pool with a price card, keeps prices as exact decimals, and changes them with PATCH', async () => {
      const name = unique('gpu');
      const created = await api.post('/api/v1/pools', {
        name, capacityType: 'SPOT', currency: 'EUR', minimumBilledSeconds: 60,
        prices: { vcpuHour: 0.1, memoryGiBHour: '0.005', gpuHour: '2.50', gpuHourByModel: { A100: '3.6', H100: 7 } },
      });
      expect(created).toMatchObject({
        status: 201,
        body: {
          name, capacityType: 'SPOT', currency: 'EUR', minimumBilledSeconds: 60,
          prices: { vcpuHour: '0.100000', memoryGiBHour: '0.005000', gpuHour: '2.500000', gpuHourByModel: { A100: '3.600000', H100: '7.000000' } },
        },
      });
      const patched = await patch(`/api/v1/pools/${name}`, { prices: { gpuHour: '3' } });
      expect(patched.body.prices).toEqual({ vcpuHour: '0.100000', memoryGiBHour: '0.005000', gpuHour: '3.000000', gpuHourByModel: { A100: '3.600000', H100: '7.000000' } });
      expect((await api.get('/api/v1/pools?limit=1000')).body.pools.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['default', name]));
      expect(await api.post('/api/v1/pools', { name })).toMatchObject({ status: 409, body: { code: 'POOL_EXISTS' } });
      expect(await patch('/api/v1/pools/nope', { currency: 'USD' })).toMatchObject({ status: 404, body: { code: 'POOL_NOT_FOUND' } });
      expect(await patch(`/api/v1/pools/${name}`, { currency: null })).toMatchObject({ status: 400, body: { message: 'currency must not be null' } });
      expect(await patch(`/api/v1/pools/${name}`, { capacityType: null })).toMatchObject({ status: 400, body: { message: 'capacityType must not be null' } });
    });

    it.each([
      [{ prices: { vcpuHour: -1 } }, 'vcpuHour must be a non-negative decimal'],
      [{ prices: { gpuHour: '-0.5' } }, 'gpuHour must be a non-negative decimal'],
      [{ prices: { memoryGiBHour: '0.1234567' } }, 'memoryGiBHour must be a non-negative decimal of at most 9 digits before the point and 6 after'],
      [{ prices: { gpuHour: '1e3' } }, 'gpuHour must be a non-negative decimal'],
      [{ prices: { gpuHour: '1000000000' } }, 'gpuHour must be a non-negative decimal of at most 9 digits before the point'],
      [{ prices: { gpuHourByModel: { A100: -3 } } }, 'gpuHourByModel.A100 must be a non-negative decimal'],
      [{ prices: { gpuHourByModel: { 'A100|H100': 3 } } }, 'gpuHourByModel keys must be single GPU model names'],
      [{ prices: 'cheap' }, 'prices must be an object'],
      [{ currency: 'XYZ' }, 'currency must be an ISO 4217 currency code'],
      [{ currency: 'usd' }, 'currency must be an ISO 4217 currency code'],
      [{ capacityType: 'RESERVED' }, 'capacityType must be ON_DEMAND or SPOT'],
      [{ minimumBilledSeconds: -1 }, 'minimumBilledSeconds must not be less than 0'],
      [{ name: 'has space' }, 'name must be 1-128 letters'],
    ])('refuses %j with a 400 naming the field', async (body, message) => {
      const res = await api.post('/api/v1/pools', { name: unique('bad'), ...body });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(JSON.stringify(res.body)).toContain(message);
    });
  });

  describe('projects', () => {
    it('creates a project with a budget and a GPU quota, shows its month to date, and clears both with null', async () => {
      const name = unique('vision');
      const created = await api.post('/api/v1/projects', { name, monthlyBudget: '1000', gpuQuota: 16 });
      expect(created).toMatchObject({
        status: 201,
        body: { name, monthlyBudget: '1000.000000', currency: 'USD', gpuQuota: 16, spentThisMonth: '0.000000', gpusHeld: 0, month: new Date().toISOString().slice(0, 7) },
      });
      const cleared = await patch(`/api/v1/projects/${name}`, { monthlyBudget: null, gpuQuota: null });
      expect(cleared.body).toMatchObject({ monthlyBudget: null, gpuQuota: null });
      expect(await api.post('/api/v1/projects', { name })).toMatchObject({ status: 409, body: { code: 'PROJECT_EXISTS' } });
      expect(await patch('/api/v1/projects/nope', { gpuQuota: 1 })).toMatchObject({ status: 404, body: { code: 'PROJECT_NOT_FOUND' } });
      expect(await patch(`/api/v1/projects/${name}`, { currency: null })).toMatchObject({ status: 400, body: { message: 'currency must not be null' } });
    });

    it.each([
      [{ monthlyBudget: -5 }, 'monthlyBudget must be a non-negative decimal'],
      [{ monthlyBudget: 'lots' }, 'monthlyBudget must be a non-negative decimal'],
      [{ gpuQuota: -1 }, 'gpuQuota must not be less than 0'],
      [{ gpuQuota: 1.5 }, 'gpuQuota must be an integer'],
      [{ currency: 'DOLLARS' }, 'currency must be an ISO 4217 currency code'],
    ])('refuses %j with a 400 naming the field', async (body, message) => {
      const res = await api.post('/api/v1/projects', { name: unique('bad'), ...body });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain(message);
    });
  });

  describe('usage report', () => {
    const from = '2026-10-01T00:00:00Z';
    const to = '2026-10-03T00:00:00Z';

    beforeAll(async () => {
      // 400 rows over two days (plus rows outside the period), with costs that a float sum would not add up exactly.
      await api.db.query(
        `INSERT INTO usage (job_id, attempt, project, queue, definition, tags, worker_id, pool, capacity_type, vcpus, memory_mib, gpus,
                            gpu_model, started_at, stopped_at, billed_seconds, currency, cost, running)
         SELECT 'report-' || i, 1, 'p' || (i % 3), 'q' || (i % 2), 'def', jsonb_build_object('team', 't' || (i % 4)), 'w', 'pool' || (i % 2),
                'ON_DEMAND', 1.5, 3072, i % 3, CASE WHEN i % 3 = 0 THEN NULL ELSE 'A100' END,
                $1::timestamptz + (i % 200) * interval '14 minutes' + (i / 200) * interval '1 day' - interval '1 day',
                $1::timestamptz + (i % 200) * interval '14 minutes' + (i / 200) * interval '1 day', 60 + i,
                CASE WHEN i % 5 = 0 THEN 'EUR' ELSE 'USD' END, (i * 0.100001)::numeric(18,6), i % 7 = 0
         FROM generate_series(0, 599) AS i`,
        ['2026-10-02T00:00:00Z'],
      );
    });

    const rowSums = (where: string, period = { from, to }): Promise<{ currency: string; cost: string; attempts: number; gpu_seconds: number }[]> =>
      api.db.query(
        `SELECT currency, sum(cost)::text AS cost, count(*)::int AS attempts, sum(gpus * billed_seconds)::int AS gpu_seconds
         FROM usage WHERE job_id LIKE 'report-%' AND started_at >= $1 AND started_at < $2 ${where} GROUP BY currency ORDER BY currency`,
        [period.from, period.to],
      );
    const totals = (body: { totals: { currency: string; cost: string; attempts: number }[] }) => body.totals.map((t) => [t.currency, t.cost, t.attempts]);

    it('groups by any keys, and totals equal the sum of the usage rows exactly, per currency', async () => {
      const expected = await rowSums('');
      for (const groupBy of ['project', 'project,day', 'queue,definition,pool,gpuModel', 'tag:team,day', '']) {
        const res = await api.get(`/api/v1/usage?from=${from}&to=${to}&groupBy=${groupBy}`);
        expect(res.status).toBe(200);
        expect(res.body.groupBy).toEqual(groupBy ? groupBy.split(',') : []);
        expect(res.body.totals.map((t: { currency: string; cost: string; attempts: number }) => [t.currency, t.cost, t.attempts]))
          .toEqual(expected.map((e) => [e.currency, e.cost, e.attempts]));
        for (const currency of ['EUR', 'USD']) {
          const rows = res.body.rows.filter((r: { currency: string }) => r.currency === currency);
          const micros = rows.reduce((sum: bigint, r: { cost: string }) => sum + BigInt(r.cost.replace('.', '')), 0n);
          const total = expected.find((e) => e.currency === currency)!;
          if (groupBy) expect(micros).toBe(BigInt(total.cost.replace('.', '')));
        }
      }
      const byProject = await api.get(`/api/v1/usage?from=${from}&to=${to}&groupBy=project`);
      const p1 = await rowSums(`AND project = 'p1'`);
      const usd = byProject.body.rows.find((r: { project: string; currency: string }) => r.project === 'p1' && r.currency === 'USD');
      const p1Usd = p1.find((e) => e.currency === 'USD')!;
      expect(usd).toMatchObject({ cost: p1Usd.cost, attempts: p1Usd.attempts, includesRunning: true });
      expect(usd.gpuHours).toBeCloseTo(p1Usd.gpu_seconds / 3600, 6);
    });

    it('counts a row on the day its attempt started', async () => {
      const res = await api.get(`/api/v1/usage?from=${from}&to=${to}&groupBy=day`);
      expect([...new Set(res.body.rows.map((r: { day: string }) => r.day))]).toEqual(['2026-10-01', '2026-10-02']);
    });

    it('returns the same rows as CSV for Accept: text/csv', async () => {
      const json = await api.get(`/api/v1/usage?from=${from}&to=${to}&groupBy=project,tag:team`);
      const csv = await api.request('GET', `/api/v1/usage?from=${from}&to=${to}&groupBy=project,tag:team`, undefined, { accept: 'text/csv' });
      expect(csv.status).toBe(200);
      const lines = (csv.body as unknown as string).trim().split('\r\n');
      expect(lines[0]).toBe('project,tag:team,currency,attempts,gpuHours,vcpuHours,memoryGiBHours,cost,includesRunning,idleGpuHours');
      expect(lines.slice(1)).toEqual(json.body.rows.map((r: Record<string, unknown>) =>
        [r.project, r['tag:team'], r.currency, r.attempts, r.gpuHours, r.vcpuHours, r.memoryGiBHours, r.cost, r.includesRunning, r.idleGpuHours].join(',')));
    });

    it('answers periods that cut days in two, and stays exact as running rows accrue and settle', async () => {
      // Whole days come from the daily rollup, the cut days at the ends from the rows themselves.
      const cut = { from: '2026-10-01T06:30:00Z', to: '2026-10-02T13:15:00Z' };
      const before = await api.get(`/api/v1/usage?from=${cut.from}&to=${cut.to}&groupBy=project,day`);
      expect(totals(before.body)).toEqual((await rowSums('', cut)).map((e) => [e.currency, e.cost, e.attempts]));
      // What accrual and settling do to rows: the rollup follows in the same transaction.
      await api.db.query(`UPDATE usage SET cost = cost + 0.333333, billed_seconds = billed_seconds + 7, running = false WHERE job_id LIKE 'report-%' AND running`);
      const after = await api.get(`/api/v1/usage?from=${from}&to=${to}&groupBy=pool`);
      expect(totals(after.body)).toEqual((await rowSums('')).map((e) => [e.currency, e.cost, e.attempts]));
      expect(after.body.rows.every((r: { includesRunning: boolean }) => !r.includesRunning)).toBe(true);
    });

    it.each([
      ['groupBy=colour', 'groupBy key "colour" is unknown; use any of project, queue, definition, pool, gpuModel, day, tag:<key>'],
      ['groupBy=tag:', 'a tag key must be 1-256 characters'],
      ['groupBy=project,project', 'groupBy names project twice'],
      ['from=2026-11-02&to=2026-11-01', 'from (2026-11-02T00:00:00.000Z) must not be after to (2026-11-01T00:00:00.000Z)'],
      ['from=yesterday', 'from must be an ISO 8601 date or time'],
      ['to=2026-13-45', 'to must be an ISO 8601 date or time'],
      ['from=2026-11-01&from=2026-11-02', 'from must be an ISO 8601 date or time'],
    ])('refuses ?%s with a 400 naming the problem', async (query, message) => {
      const res = await api.get(`/api/v1/usage?${query}`);
      expect(res.status).toBe(400);
      expect([res.body.message, ...(res.body.errors ?? [])].join(' ')).toContain(message);
    });
  });

  describe('estimated maximum cost at submit', () => {
    it('prices the job in the cheapest pool its queue allows, every attempt running to its timeout', async () => {
      const dear = unique('dear');
      const cheap = unique('cheap');
      await api.post('/api/v1/pools', { name: dear, prices: { vcpuHour: '1', gpuHour: '10' } });
      await api.post('/api/v1/pools', { name: cheap, prices: { vcpuHour: '0.5', memoryGiBHour: '0.25', gpuHourByModel: { A100: '4' } } });
      const f = await api.fixture({ resources: { vcpus: 2, memoryMiB: 4096, gpus: 1, gpuModel: 'A100' } }, { pools: [dear, cheap] });
      const res = await api.post('/api/v1/jobs', { name: 'estimate', queue: f.queue, definition: f.definition, timeoutSeconds: 1800, retryStrategy: { attempts: 3 } });
      // cheap: (2 × 0.5 + 4 GiB × 0.25 + 4) × 0.5 h = 3.00 per attempt
      expect(res).toMatchObject({ status: 201, body: { estimatedMaxCost: { pool: cheap, currency: 'USD', perAttempt: '3.000000', amount: '9.000000' } } });
      const noTimeout = await api.post('/api/v1/jobs', { name: 'open-ended', queue: f.queue, definition: f.definition });
      expect(noTimeout.status).toBe(201);
      expect(noTimeout.body.estimatedMaxCost).toBeUndefined();
    });

    it('keeps jobs that are not interruptible off SPOT pools in the estimate when the queue prefers spot for interruptible jobs', async () => {
      const od = unique('od');
      const spot = unique('spot');
      await api.post('/api/v1/pools', { name: od, prices: { vcpuHour: '1' } });
      await api.post('/api/v1/pools', { name: spot, capacityType: 'SPOT', prices: { vcpuHour: '0.25' } });
      const f = await api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } }, { pools: [od, spot], preferSpotForInterruptible: true });
      const submit = (interruptible: boolean) => api.post('/api/v1/jobs', { name: 'j', queue: f.queue, definition: f.definition, timeoutSeconds: 3600, interruptible });
      expect((await submit(true)).body.estimatedMaxCost).toMatchObject({ pool: spot, amount: '0.250000' });
      expect((await submit(false)).body.estimatedMaxCost).toMatchObject({ pool: od, amount: '1.000000' });
      expect((await api.post('/api/v1/jobs', { name: 'j', queue: f.queue, definition: f.definition, interruptible: 'yes' })).body.message)
        .toContain('interruptible must be true or false');
    });
  });
});
