import { statusMoves } from '#libs/core';
import { applyCommands, FencedError, takeLeadership } from '#libs/db';
import { ApiHarness } from '../support/api-harness.js';

describe('the lifecycle writer and the database that enforces it (real Postgres)', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await ApiHarness.start();
  });
  afterAll(async () => {
    await api?.close();
  });

  async function submit(resources: Record<string, number> = {}): Promise<string> {
    const { queue, definition } = await api.fixture(Object.keys(resources).length ? { resources: { vcpus: 1, memoryMiB: 64, ...resources } } : {});
    const { status, body } = await api.post('/api/v1/jobs', { name: 'writer', queue, definition });
    expect(status).toBe(201);
    return body.jobId;
  }

  const events = async (jobId: string) =>
    (await api.db.query(`SELECT from_status, to_status, reason FROM job_events WHERE job_id = $1 ORDER BY id`, [jobId]))
      .map((e: { from_status: string; to_status: string }) => `${e.from_status}>${e.to_status}`);

  it('allows in the database exactly the moves of the lifecycle table', async () => {
    const rows: { m: string }[] = await api.db.query(`SELECT from_status || '>' || to_status AS m FROM status_moves WHERE entity = 'job' ORDER BY 1`);
    expect(rows.map((r) => r.m)).toEqual(statusMoves());
  });

  it('refuses a status change made outside the writer', async () => {
    const jobId = await submit();
    await expect(api.db.query(`UPDATE jobs SET status = 'FAILED' WHERE id = $1`, [jobId])).rejects.toThrow(/only the lifecycle writer changes a status/);
    await expect(api.db.query(`UPDATE jobs SET status_reason = 'just a reason' WHERE id = $1`, [jobId])).resolves.toBeDefined();
  });

  it('refuses, even inside the writer, a move the table does not have', async () => {
    const jobId = await submit();
    await expect(api.db.transaction(async (tx) => {
      await tx.query(`SELECT set_config('gpubatch.lifecycle', 'on', true)`);
      await tx.query(`UPDATE jobs SET status = 'RUNNING' WHERE id = $1`, [jobId]);
    })).rejects.toThrow(/RUNNABLE -> RUNNING is not a move of the lifecycle/);
  });

  it('writes each move with its attempt row and event, and ignores repeats', async () => {
    const jobId = await submit();
    const place = { jobId, command: { type: 'place' as const, workerId: 'writer-w1', gpuDevices: [] } };
    const [first] = await applyCommands(api.db, [place]);
    expect(first.transition).toMatchObject({ outcome: 'applied', to: 'STARTING' });
    const [again] = await applyCommands(api.db, [place]);
    expect(again.transition.outcome).toBe('ignored');
    const startedAt = new Date(Date.now() - 5000);
    const stoppedAt = new Date();
    await applyCommands(api.db, [
      { jobId, containerId: 'c-1', command: { type: 'container-started', attempt: 1, workerId: 'writer-w1', startedAt } },
      { jobId, command: { type: 'attempt-ended', attempt: 1, stoppedAt, end: { kind: 'exited', exitCode: 0, oomKilled: false } } },
      { jobId, command: { type: 'attempt-ended', attempt: 1, stoppedAt, end: { kind: 'exited', exitCode: 0, oomKilled: false } } },
    ]);
    const [job] = await api.db.query(`SELECT status, attempt_count, started_at, stopped_at FROM jobs WHERE id = $1`, [jobId]);
    expect(job).toMatchObject({ status: 'SUCCEEDED', attempt_count: 1, started_at: startedAt, stopped_at: stoppedAt });
    const attempts = await api.db.query(`SELECT attempt, status, worker_id, container_id, exit_code FROM job_attempts WHERE job_id = $1`, [jobId]);
    expect(attempts).toEqual([{ attempt: 1, status: 'SUCCEEDED', worker_id: 'writer-w1', container_id: 'c-1', exit_code: 0 }]);
    expect(await events(jobId)).toEqual(['null>SUBMITTED', 'SUBMITTED>RUNNABLE', 'RUNNABLE>STARTING', 'STARTING>RUNNING', 'RUNNING>SUCCEEDED']);
  });

  it('never lets two active attempts hold the same GPU of a worker', async () => {
    const [a, b] = [await submit({ gpus: 1 }), await submit({ gpus: 1 })];
    await applyCommands(api.db, [{ jobId: a, command: { type: 'place', workerId: 'writer-gpu', gpuDevices: [0, 1] } }]);
    await expect(applyCommands(api.db, [{ jobId: b, command: { type: 'place', workerId: 'writer-gpu', gpuDevices: [1] } }]))
      .rejects.toThrow(/gpu_holds_pkey/);
    expect((await api.db.query(`SELECT status FROM jobs WHERE id = $1`, [b]))[0].status).toBe('RUNNABLE');
    // Once the first attempt ends, its devices are free again.
    await applyCommands(api.db, [{ jobId: a, command: { type: 'attempt-ended', attempt: 1, stoppedAt: new Date(), end: { kind: 'start-failed', message: 'x' } } }]);
    const [placed] = await applyCommands(api.db, [{ jobId: b, command: { type: 'place', workerId: 'writer-gpu', gpuDevices: [1] } }]);
    expect(placed.transition).toMatchObject({ outcome: 'applied', to: 'STARTING' });
  });

  it('places a batch in one transaction: each job STARTING with its attempt, event and GPU holds, freed as each attempt ends', async () => {
    const ids = [await submit({ gpus: 2 }), await submit({ gpus: 2 }), await submit({ gpus: 2 }), await submit({ gpus: 2 })];
    const devices = [[0, 1], [2, 3], [0, 1], [2, 3]];
    const workerOf = (i: number) => (i < 2 ? 'batch-w1' : 'batch-w2');
    const applied = await applyCommands(api.db, ids.map((jobId, i) => ({
      jobId, command: { type: 'place' as const, workerId: workerOf(i), gpuDevices: devices[i] }, placement: { pool: 'default', gpuModel: null },
    })));
    expect(applied.map((a) => a.transition)).toEqual(ids.map((_, i) => expect.objectContaining({ outcome: 'applied', to: 'STARTING', reason: `Placed on worker ${workerOf(i)}` })));
    for (const id of ids) expect(await events(id)).toEqual(['null>SUBMITTED', 'SUBMITTED>RUNNABLE', 'RUNNABLE>STARTING']);
    const holds = async () => (await api.db.query(
      `SELECT worker_id || ':' || gpu_index || '=' || job_id AS h FROM gpu_holds WHERE job_id = ANY($1) ORDER BY 1`, [ids],
    )).map((r: { h: string }) => r.h);
    expect(await holds()).toEqual(ids.flatMap((id, i) => devices[i].map((d) => `${workerOf(i)}:${d}=${id}`)).sort());
    // One of the batch's devices again, in a batch with a free one: the whole statement is refused, nothing moves.
    const [extra, other] = [await submit({ gpus: 1 }), await submit({ gpus: 1 })];
    await expect(applyCommands(api.db, [
      { jobId: extra, command: { type: 'place', workerId: 'batch-w3', gpuDevices: [0] } },
      { jobId: other, command: { type: 'place', workerId: 'batch-w1', gpuDevices: [3] } },
    ])).rejects.toThrow(/gpu_holds_pkey/);
    expect((await api.db.query(`SELECT count(*)::int AS n FROM job_attempts WHERE job_id = ANY($1)`, [[extra, other]]))[0].n).toBe(0);
    // Running keeps the holds; the end of two attempts (a start and an end in one batch) frees theirs alone.
    const startedAt = new Date(Date.now() - 1000);
    await applyCommands(api.db, [
      ...ids.map((jobId, i) => ({ jobId, containerId: `c-${i}`, command: { type: 'container-started' as const, attempt: 1, workerId: workerOf(i), startedAt } })),
      ...ids.slice(0, 2).map((jobId) => ({ jobId, command: { type: 'attempt-ended' as const, attempt: 1, stoppedAt: new Date(), end: { kind: 'exited' as const, exitCode: 0, oomKilled: false } } })),
    ]);
    expect(await holds()).toEqual(ids.slice(2).flatMap((id, i) => devices[i + 2].map((d) => `batch-w2:${d}=${id}`)).sort());
    const statuses = await api.db.query(`SELECT j.status AS job, a.status AS attempt FROM jobs j JOIN job_attempts a ON a.job_id = j.id WHERE j.id = ANY($1) ORDER BY array_position($1::text[], j.id::text)`, [ids]);
    expect(statuses).toEqual([
      { job: 'SUCCEEDED', attempt: 'SUCCEEDED' }, { job: 'SUCCEEDED', attempt: 'SUCCEEDED' },
      { job: 'RUNNING', attempt: 'RUNNING' }, { job: 'RUNNING', attempt: 'RUNNING' },
    ]);
  });

  it('fences a deposed leader even when none of its commands names a job', async () => {
    const old = await takeLeadership(api.db, 'old-leader');
    await takeLeadership(api.db, 'new-leader');
    await expect(applyCommands(api.db, [{ jobId: 'no-such-job', command: { type: 'cancel', reason: 'x' } }], old)).rejects.toThrow(FencedError);
  });

  it('fences a deposed leader: its writes fail once a newer epoch is taken, and change nothing', async () => {
    const jobId = await submit();
    const old = await takeLeadership(api.db, 'old-leader');
    const current = await takeLeadership(api.db, 'new-leader');
    expect(current.epoch).toBeGreaterThan(old.epoch);
    const place = { jobId, command: { type: 'place' as const, workerId: 'writer-w2', gpuDevices: [] } };
    await expect(applyCommands(api.db, [place], old)).rejects.toThrow(FencedError);
    expect((await api.db.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]))[0].status).toBe('RUNNABLE');
    const [applied] = await applyCommands(api.db, [place], current);
    expect(applied.transition.outcome).toBe('applied');
  });
});
