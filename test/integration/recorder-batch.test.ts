import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { applyCommands, FencedError, takeLeadership, type Fence } from '#libs/db';
import { signReport, type AttemptExitedEvent, type AttemptRunningEvent, type WorkerEvent } from '#libs/queue';
import { EventRecorder, RefusedReportError } from '../../apps/scheduler/src/recorder/event-recorder.js';
import { ClusterState } from '../../apps/scheduler/src/state/cluster-state.js';
import { ApiHarness } from '../support/api-harness.js';
import { resetState } from '../support/reset.js';

const logger = pino({ level: 'silent' });

/**
 * The recorder writes every report waiting in one transaction: these tests
 * hand it many at once (as the events consumer does with reports in hand) and
 * check, in Postgres, that the batch keeps each report's own outcome.
 */
describe('recording worker reports in batches (real Postgres)', () => {
  let api: ApiHarness;
  let db: DataSource;
  /** Transactions the recorder opened: a batch is one. */
  let transactions = 0;

  beforeAll(async () => {
    api = await ApiHarness.start();
    db = api.db;
    const transaction = db.transaction.bind(db) as (work: (tx: EntityManager) => Promise<unknown>) => Promise<unknown>;
    (db as { transaction: unknown }).transaction = (work: (tx: EntityManager) => Promise<unknown>) => {
      transactions++;
      return transaction(work);
    };
  });
  afterAll(async () => {
    await api?.close();
  });
  beforeEach(async () => {
    await resetState(db);
    await db.query(`DELETE FROM worker_identities WHERE worker_id LIKE 'batch-%'`);
  });

  /** A worker with a signing key, as a join leaves it. */
  async function identity(workerId: string): Promise<string> {
    const key = randomBytes(32).toString('hex');
    await db.query(
      `INSERT INTO worker_identities (worker_id, pool, redis_username, signing_key) VALUES ($1, 'default', $2, $3)`, [workerId, `w-${workerId}`, key],
    );
    return key;
  }

  /** `n` jobs placed on `workerId` (STARTING, attempt 1), through the lifecycle writer as a pass places them. */
  async function placed(n: number, workerId: string, extra: Record<string, unknown> = {}): Promise<string[]> {
    const f = await api.fixture({ resources: { vcpus: 1, memoryMiB: 64 }, ...extra });
    await api.post('/api/v1/pools', { name: 'priced', prices: { vcpuHour: '3.6' } });
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await api.post('/api/v1/jobs', { name: `batch-${i}`, queue: f.queue, definition: f.definition });
      expect(res.status).toBe(201);
      ids.push(res.body.jobId);
    }
    await applyCommands(db, ids.map((jobId) => ({ jobId, placement: { pool: 'priced', gpuModel: null }, command: { type: 'place' as const, workerId, gpuDevices: [] } })));
    return ids;
  }

  const running = (jobId: string, workerId: string, startedAt: Date): AttemptRunningEvent => ({
    type: 'attempt-running', jobId, attempt: 1, workerId, containerId: `c-${jobId}`, startedAt: startedAt.toISOString(),
  });
  const exited = (jobId: string, workerId: string, startedAt: Date, stoppedAt: Date, exitCode = 0): AttemptExitedEvent => ({
    type: 'attempt-exited', jobId, attempt: 1, workerId, containerId: `c-${jobId}`, startedAt: startedAt.toISOString(), stoppedAt: stoppedAt.toISOString(),
    end: { kind: 'exited', exitCode, oomKilled: false }, logs: [{ stream: 'stdout', at: stoppedAt.toISOString(), text: `bye from ${jobId}` }], logsTruncated: false,
  });

  /** Hands every report to the recorder at once; each one's own outcome. */
  async function recordAll(recorder: EventRecorder, reports: WorkerEvent[]): Promise<PromiseSettledResult<void>[]> {
    return Promise.allSettled(reports.map((r) => recorder.record(r)));
  }

  it('records a batch in one transaction: a duplicate bills once, a forged report is refused, the others are recorded', async () => {
    const key = await identity('batch-w1');
    const otherKey = await identity('batch-w2');
    const ids = await placed(6, 'batch-w1');
    const fence = await takeLeadership(db, 'batch-test');
    const state = new ClusterState();
    const recorder = new EventRecorder(db, state, () => undefined, logger, () => fence, 'required');
    const t0 = new Date('2026-11-21T10:00:00.000Z');
    const sign = <T extends WorkerEvent>(e: T) => signReport(e, key);

    const reports: WorkerEvent[] = [
      ...ids.slice(0, 5).map((id) => sign(running(id, 'batch-w1', t0))),
      // Jobs 0-2 end in the same batch as their start: 0 and 1 succeed after 10.2 s, 2 fails (no retries left).
      sign(exited(ids[0], 'batch-w1', t0, new Date(t0.getTime() + 10_200))),
      sign(exited(ids[1], 'batch-w1', t0, new Date(t0.getTime() + 10_200))),
      sign(exited(ids[2], 'batch-w1', t0, new Date(t0.getTime() + 20_000), 3)),
      // The same exit again, inside the batch, with another stop time: it must change and bill nothing.
      sign(exited(ids[0], 'batch-w1', t0, new Date(t0.getTime() + 3_600_000))),
      // Forged: job 3's exit claimed by another worker with its own valid key, and job 4's signed with a wrong key.
      signReport(exited(ids[3], 'batch-w2', t0, new Date(t0.getTime() + 1000)), otherKey),
      signReport(exited(ids[4], 'batch-w1', t0, new Date(t0.getTime() + 1000)), randomBytes(32).toString('hex')),
    ];
    const before = transactions;
    const outcomes = await recordAll(recorder, reports);
    expect(transactions - before).toBe(1);

    const refused = outcomes.map((o, i) => (o.status === 'rejected' ? i : -1)).filter((i) => i >= 0);
    expect(refused).toEqual([9, 10]);
    for (const i of refused) expect((outcomes[i] as PromiseRejectedResult).reason).toBeInstanceOf(RefusedReportError);

    const jobs: { id: string; status: string }[] = await db.query(`SELECT id, status FROM jobs WHERE id = ANY($1)`, [ids]);
    const status = Object.fromEntries(jobs.map((j) => [j.id, j.status]));
    expect(ids.map((id) => status[id])).toEqual(['SUCCEEDED', 'SUCCEEDED', 'FAILED', 'RUNNING', 'RUNNING', 'STARTING']);

    const usage: { job_id: string; billed_seconds: number; cost: string; running: boolean }[] =
      await db.query(`SELECT job_id, billed_seconds, cost, running FROM usage WHERE job_id = ANY($1)`, [ids]);
    const byJob = new Map(usage.map((u) => [u.job_id, u]));
    expect(usage).toHaveLength(5);
    // 10.2 s bills as 11 s: 11/3600 × 3.6 per vCPU-hour = 0.011. The duplicate (1 h) billed nothing.
    expect(byJob.get(ids[0])).toMatchObject({ billed_seconds: 11, cost: '0.011000', running: false });
    expect(byJob.get(ids[1])).toMatchObject({ billed_seconds: 11, cost: '0.011000', running: false });
    expect(byJob.get(ids[2])).toMatchObject({ billed_seconds: 20, running: false });
    expect(byJob.get(ids[3])).toMatchObject({ running: true });
    const [rollup] = await db.query(`SELECT sum(attempts)::int AS attempts, sum(running)::int AS running, sum(cost)::text AS cost FROM usage_daily`);
    expect(rollup).toEqual({ attempts: 5, running: 2, cost: '0.042000' });

    const events: { job_id: string; to_status: string }[] = await db.query(
      `SELECT job_id, to_status FROM job_events WHERE job_id = $1 ORDER BY id`, [ids[0]]);
    expect(events.map((e) => e.to_status)).toEqual(['SUBMITTED', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED']);
    const logs: { job_id: string; text: string }[] = await db.query(`SELECT job_id, text FROM job_logs WHERE job_id = ANY($1) ORDER BY id`, [ids]);
    expect(logs.map((l) => l.text)).toEqual([`bye from ${ids[0]}`, `bye from ${ids[1]}`, `bye from ${ids[2]}`]);
    const attempts: { job_id: string; status: string; exit_code: number | null; stopped_at: Date | null }[] =
      await db.query(`SELECT job_id, status, exit_code, stopped_at FROM job_attempts WHERE job_id = ANY($1) ORDER BY job_id`, [ids.slice(0, 3)]);
    expect(attempts.find((a) => a.job_id === ids[0])).toMatchObject({ status: 'SUCCEEDED', exit_code: 0, stopped_at: new Date(t0.getTime() + 10_200) });
    expect(attempts.find((a) => a.job_id === ids[2])).toMatchObject({ status: 'FAILED', exit_code: 3 });

    // The same reports again in a later batch (a worker's outbox resending): nothing changes, nothing is billed twice.
    const again = await recordAll(recorder, reports.slice(0, 9));
    expect(again.every((o) => o.status === 'fulfilled')).toBe(true);
    expect(await db.query(`SELECT sum(cost)::text AS cost, count(*)::int AS n FROM usage WHERE job_id = ANY($1)`, [ids])).toEqual([{ cost: '0.042000', n: 5 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM job_events WHERE job_id = ANY($1)`, [ids])).toEqual([{ n: 6 * 3 + 5 + 3 }]);
  });

  it('records an exit that overtook its RUNNING report from the exit alone, and the late RUNNING changes and bills nothing', async () => {
    // A worker sends an exit without waiting for its RUNNING when it added that report itself; if the RUNNING's
    // recording then failed and is retried, the exit arrives first. It carries the container's start.
    const key = await identity('batch-w1');
    const [id] = await placed(1, 'batch-w1');
    const fence = await takeLeadership(db, 'batch-test');
    const recorder = new EventRecorder(db, new ClusterState(), () => undefined, logger, () => fence, 'required');
    const t0 = new Date('2026-11-21T10:00:00.000Z');
    const exit = signReport(exited(id, 'batch-w1', t0, new Date(t0.getTime() + 7_500)), key);
    const late = signReport(running(id, 'batch-w1', t0), key);

    expect((await recordAll(recorder, [exit])).map((o) => o.status)).toEqual(['fulfilled']);
    const read = async () => ({
      job: (await db.query(`SELECT status, started_at, stopped_at FROM jobs WHERE id = $1`, [id]))[0],
      attempt: (await db.query(`SELECT status, container_id, started_at, stopped_at FROM job_attempts WHERE job_id = $1`, [id]))[0],
      usage: await db.query(`SELECT billed_seconds, cost, running FROM usage WHERE job_id = $1`, [id]),
      events: (await db.query(`SELECT to_status FROM job_events WHERE job_id = $1 ORDER BY id`, [id])).map((e: { to_status: string }) => e.to_status),
    });
    const recorded = await read();
    expect(recorded.job).toMatchObject({ status: 'SUCCEEDED', started_at: t0, stopped_at: new Date(t0.getTime() + 7_500) });
    expect(recorded.attempt).toMatchObject({ status: 'SUCCEEDED', container_id: `c-${id}`, started_at: t0, stopped_at: new Date(t0.getTime() + 7_500) });
    // 7.5 s bills as 8 s: 8/3600 × 3.6 per vCPU-hour = 0.008.
    expect(recorded.usage).toEqual([{ billed_seconds: 8, cost: '0.008000', running: false }]);
    expect(recorded.events).toEqual(['SUBMITTED', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED']);

    expect((await recordAll(recorder, [late])).map((o) => o.status)).toEqual(['fulfilled']);
    expect(await read()).toEqual(recorded);
  });

  // A success of node 1 is recorded with other reports; a failure would decide the gang, were it not ended already.
  it.each([[0, 'batch-w6'], [137, 'batch-w7']])('records a gang node\'s own report (exit %i) that comes after the main node ended the gang: its output, container and start, billed once', async (exitCode, worker) => {
    const key = await identity(worker);
    const f = await api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    const submitted = await api.post('/api/v1/jobs', { name: 'gang', queue: f.queue, definition: f.definition, nodes: { count: 2 } });
    expect(submitted.status).toBe(201);
    const main = submitted.body.jobId as string;
    const node1 = `${main}:node1`;
    await applyCommands(db, [main, node1].map((jobId) => ({ jobId, placement: { pool: 'default', gpuModel: null }, command: { type: 'place' as const, workerId: worker, gpuDevices: [] } })));
    const fence = await takeLeadership(db, 'batch-test');
    const recorder = new EventRecorder(db, new ClusterState(), () => undefined, logger, () => fence, 'required');
    const t0 = new Date('2026-11-21T10:00:00.000Z');
    // The main node runs and ends before node 1's RUNNING is recorded: the main node's end moves node 1 at once.
    await recordAll(recorder, [signReport(running(main, worker, t0), key)]);
    expect((await recordAll(recorder, [signReport(exited(main, worker, t0, new Date(t0.getTime() + 4_000)), key)])).map((o) => o.status)).toEqual(['fulfilled']);
    const node1Row = async () => (await db.query(
      `SELECT j.status, j.started_at AS job_started_at, a.container_id, a.started_at FROM jobs j JOIN job_attempts a ON a.job_id = j.id WHERE j.id = $1`, [node1]))[0];
    expect(await node1Row()).toMatchObject({ status: 'SUCCEEDED', container_id: null, started_at: null });

    // Node 1's own exit, late: it changes no status, yet records what only it knows.
    const t1 = new Date(t0.getTime() + 500);
    expect((await recordAll(recorder, [signReport(exited(node1, worker, t1, new Date(t0.getTime() + 4_100), exitCode), key)])).map((o) => o.status)).toEqual(['fulfilled']);
    expect(await node1Row()).toEqual({ status: 'SUCCEEDED', job_started_at: t1, container_id: `c-${node1}`, started_at: t1 });
    expect(await db.query(`SELECT text FROM job_logs WHERE job_id = $1`, [node1])).toEqual([{ text: `bye from ${node1}` }]);
    // Billed from its own start to its own stop: 3.6 s bills as 4 s.
    const billed = async () => db.query(`SELECT started_at, billed_seconds, running FROM usage WHERE job_id = $1`, [node1]);
    expect(await billed()).toEqual([{ started_at: t1, billed_seconds: 4, running: false }]);

    // The same late report again: nothing more.
    await recordAll(recorder, [signReport(exited(node1, worker, t1, new Date(t0.getTime() + 4_100), exitCode), key)]);
    expect(await node1Row()).toEqual({ status: 'SUCCEEDED', job_started_at: t1, container_id: `c-${node1}`, started_at: t1 });
    expect(await billed()).toEqual([{ started_at: t1, billed_seconds: 4, running: false }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM job_logs WHERE job_id = $1`, [node1])).toEqual([{ n: 1 }]);
  });

  it('records nothing of a deposed leader\'s batch', async () => {
    const ids = await placed(4, 'batch-w3');
    const old: Fence = await takeLeadership(db, 'old-leader');
    await takeLeadership(db, 'new-leader');
    const recorder = new EventRecorder(db, new ClusterState(), () => undefined, logger, () => old, 'off');
    const t0 = new Date(Date.now() - 5000);
    const outcomes = await recordAll(recorder, [
      ...ids.map((id) => running(id, 'batch-w3', t0)),
      exited(ids[0], 'batch-w3', t0, new Date()),
    ]);
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof FencedError)).toBe(true);
    expect(await db.query(`SELECT DISTINCT status FROM jobs WHERE id = ANY($1)`, [ids])).toEqual([{ status: 'STARTING' }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM usage`)).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM job_logs`)).toEqual([{ n: 0 }]);
  });

  it('records a batch with a report the database rejects report by report, so only that one fails', async () => {
    const ids = await placed(3, 'batch-w4');
    const recorder = new EventRecorder(db, new ClusterState(), () => undefined, logger, () => undefined, 'off');
    const t0 = new Date(Date.now() - 5000);
    const before = transactions;
    const outcomes = await recordAll(recorder, [
      running(ids[0], 'batch-w4', t0),
      // A container id longer than Postgres keeps fails the shared transaction; alone, only this report fails.
      { ...running(ids[1], 'batch-w4', t0), containerId: 'c'.repeat(200) },
      exited(ids[2], 'batch-w4', t0, new Date()),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(transactions - before).toBe(4);
    const jobs: { id: string; status: string }[] = await db.query(`SELECT id, status FROM jobs WHERE id = ANY($1)`, [ids]);
    expect(ids.map((id) => jobs.find((j) => j.id === id)!.status)).toEqual(['RUNNING', 'STARTING', 'SUCCEEDED']);
  });

  it('ends in one batch the attempts the scheduler decides, with retries and dependants, and frees what they held', async () => {
    const ids = await placed(3, 'batch-w5', { retryStrategy: { attempts: 2 } });
    const f = await api.fixture();
    const dependant = await api.post('/api/v1/jobs', { name: 'after', queue: f.queue, definition: f.definition, dependsOn: [{ jobId: ids[0] }] });
    expect(dependant.status).toBe(201);
    const state = new ClusterState();
    let changes = 0;
    const recorder = new EventRecorder(db, state, () => changes++, logger, () => undefined, 'off');
    const t0 = new Date(Date.now() - 5000);
    await recordAll(recorder, ids.map((id) => running(id, 'batch-w5', t0)));
    const before = transactions;
    await recorder.endAttempts([
      { jobId: ids[0], attempt: 1, workerId: 'batch-w5', startedAt: t0, stoppedAt: new Date(), end: { kind: 'exited', exitCode: 0, oomKilled: false } },
      { jobId: ids[1], attempt: 1, workerId: 'batch-w5', startedAt: t0, stoppedAt: new Date(), end: { kind: 'worker-lost', workerId: 'batch-w5' } },
      // Already ended before (a repeat): left as it is.
      { jobId: ids[0], attempt: 1, workerId: 'batch-w5', startedAt: t0, stoppedAt: new Date(), end: { kind: 'worker-lost', workerId: 'batch-w5' } },
    ]);
    // One for the batch, and one for the dependant its success woke (dependency settlement, after the commit).
    expect(transactions - before).toBe(2);
    expect(changes).toBeGreaterThan(0);
    const jobs: { id: string; status: string }[] = await db.query(`SELECT id, status FROM jobs WHERE id = ANY($1)`, [[...ids, dependant.body.jobId]]);
    const status = Object.fromEntries(jobs.map((j) => [j.id, j.status]));
    expect([...ids, dependant.body.jobId].map((id) => status[id])).toEqual(['SUCCEEDED', 'RUNNABLE', 'RUNNING', 'RUNNABLE']);
    // The retry and the woken dependant are in the leader's model, ready to place.
    expect(state.runnable.has(ids[1])).toBe(true);
    expect(state.runnable.has(dependant.body.jobId)).toBe(true);
    expect(await db.query(`SELECT job_id, running FROM usage WHERE job_id = ANY($1) ORDER BY job_id`, [ids.slice(0, 2)]))
      .toEqual(ids.slice(0, 2).sort().map((id) => ({ job_id: id, running: false })));
  });
});
