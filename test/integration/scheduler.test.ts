import { schedulerTestbed } from '../support/scheduler-testbed.js';
import { waitFor } from '../support/wait-for.js';

const GPU = (index: number) => ({ index, uuid: null, model: 'A100', memoryMiB: 81920 });

describe('scheduler (real Postgres and Redis)', () => {
  const bed = schedulerTestbed();
  const { start, submit, job } = bed;

  it('places jobs on disjoint GPUs, never over-commits, and tells the waiting job why', async () => {
    await bed.worker.join({ id: 'w-gpu', vcpus: 8, memoryMiB: 8192, gpus: [GPU(0), GPU(1)] });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 1024, gpus: 1 } });
    const ids = [await submit(f.queue, f.definition), await submit(f.queue, f.definition), await submit(f.queue, f.definition)];
    await start();

    const dispatched = await waitFor('two placements', async () => {
      const d = await bed.worker.dispatched('w-gpu');
      return d.length === 2 ? d : undefined;
    });
    expect(dispatched.flatMap((d) => d.gpuDevices).sort()).toEqual([0, 1]);
    expect(dispatched.every((d) => d.resources.gpus === 1 && d.attempt === 1)).toBe(true);

    const waiting = ids.find((id) => !dispatched.some((d) => d.jobId === id))!;
    const detail = await waitFor('a reason on the waiting job', async () => {
      const j = await job(waiting);
      return j.statusReason?.startsWith('RESOURCE') ? j : undefined;
    });
    expect(detail.status).toBe('RUNNABLE');
    expect(detail.statusReason).toBe('RESOURCE: needs 1 GPU, 1 vCPU, 1024 MiB; largest free block is 0 on worker w-gpu');
    for (const d of dispatched) {
      const placed = await job(d.jobId);
      expect(placed.status).toBe('STARTING');
      expect(placed.attempts).toEqual([expect.objectContaining({ attempt: 1, workerId: 'w-gpu', gpuDevices: d.gpuDevices, status: 'STARTING' })]);
    }
    const workers = (await bed.api.get('/api/v1/workers?limit=1000')).body.workers;
    expect(workers[0]).toMatchObject({ workerId: 'w-gpu', state: 'ACTIVE', allocated: { vcpus: 2, memoryMiB: 2048, gpus: 2 } });
  });

  it('runs the job of the higher-priority queue first', async () => {
    const low = await bed.api.fixture({ resources: { vcpus: 4, memoryMiB: 64 } }, { priority: 1 });
    const high = await bed.api.fixture({ resources: { vcpus: 4, memoryMiB: 64 } }, { priority: 100 });
    const lowJob = await submit(low.queue, low.definition);
    const highJob = await submit(high.queue, high.definition);
    await start();
    await bed.worker.join({ id: 'w-small', vcpus: 4 });
    const [d] = await waitFor('one placement', async () => {
      const list = await bed.worker.dispatched('w-small');
      return list.length === 1 ? list : undefined;
    });
    expect(d.jobId).toBe(highJob);
    expect((await job(lowJob)).status).toBe('RUNNABLE');
  });

  it('records running and exit, bills the attempt once however often the exit is reported, and frees the slot', async () => {
    await bed.worker.join({ id: 'w-1', vcpus: 1 });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    const first = await submit(f.queue, f.definition);
    const second = await submit(f.queue, f.definition);
    await start();
    const [d] = await waitFor('first placement', async () => {
      const list = await bed.worker.dispatched('w-1');
      return list.length === 1 ? list : undefined;
    });
    expect(d.jobId).toBe(first);

    const startedAt = '2026-11-21T10:00:00.250Z';
    const stoppedAt = '2026-11-21T10:00:03.500Z';
    await bed.worker.report({ type: 'attempt-running', jobId: first, attempt: 1, workerId: 'w-1', containerId: 'c1', startedAt });
    await waitFor('RUNNING', async () => (await job(first)).status === 'RUNNING');
    const exited = {
      type: 'attempt-exited' as const, jobId: first, attempt: 1, workerId: 'w-1', containerId: 'c1', startedAt, stoppedAt,
      end: { kind: 'exited' as const, exitCode: 0, oomKilled: false },
      logs: [{ stream: 'stdout' as const, at: startedAt, text: 'hello\u0000world' }], logsTruncated: false,
    };
    await bed.worker.report(exited);
    const done = await waitFor('SUCCEEDED', async () => {
      const j = await job(first);
      return j.status === 'SUCCEEDED' ? j : undefined;
    });
    // The same exit reported again after it was recorded (a worker retrying its report).
    await bed.worker.report({ ...exited, stoppedAt: '2026-11-21T10:09:00.000Z' });
    await waitFor('the repeated report to be consumed', () => bed.worker.reportsConsumed());

    expect(done.statusReason).toBe('Essential container exited with code 0');
    expect(done.attempts[0]).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, startedAt, stoppedAt, containerId: 'c1' });
    expect(done.events.map((e: { to: string }) => e.to)).toEqual(['SUBMITTED', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED']);
    expect(done.events[3].at).toBe(startedAt);

    // The freed slot goes to the second job.
    await waitFor('second placement', async () => (await bed.worker.dispatched('w-1')).some((p) => p.jobId === second));
    const usage = await bed.db.query(`SELECT job_id, attempt, worker_id, pool, vcpus, memory_mib, gpus, started_at, stopped_at, billed_seconds FROM usage`);
    expect(usage).toEqual([{
      job_id: first, attempt: 1, worker_id: 'w-1', pool: 'default', vcpus: '1.000', memory_mib: 64, gpus: 0,
      started_at: new Date(startedAt), stopped_at: new Date(stoppedAt), billed_seconds: 4,
    }]);
    expect((await bed.api.get(`/api/v1/jobs/${first}/logs`)).body.lines).toEqual([{ stream: 'stdout', at: startedAt, text: 'helloworld' }]);
  });

  it('retries a failed attempt while attempts remain, then fails with the exit reason', async () => {
    await bed.worker.join({ id: 'w-r' });
    const f = await bed.api.fixture({ retryStrategy: { attempts: 2 } });
    const id = await submit(f.queue, f.definition);
    await start();
    for (const attempt of [1, 2]) {
      await waitFor(`attempt ${attempt} dispatched`, async () => (await bed.worker.dispatched('w-r')).some((p) => p.attempt === attempt));
      await bed.worker.report({
        type: 'attempt-exited', jobId: id, attempt, workerId: 'w-r', containerId: null, startedAt: null,
        stoppedAt: new Date().toISOString(), end: { kind: 'pull-failed', message: 'no such image' }, logs: [], logsTruncated: false,
      });
    }
    const failed = await waitFor('FAILED', async () => {
      const j = await job(id);
      return j.status === 'FAILED' ? j : undefined;
    });
    expect(failed.statusReason).toBe('CannotPullContainerError: no such image');
    expect(failed.attempts.map((a: { status: string }) => a.status)).toEqual(['FAILED', 'FAILED']);
    expect(failed.events.map((e: { to: string }) => e.to)).toEqual(['SUBMITTED', 'RUNNABLE', 'STARTING', 'RUNNABLE', 'STARTING', 'FAILED']);
    expect(failed.events[3].reason).toBe('Attempt 1 failed (CannotPullContainerError: no such image); retrying, attempt 2 of 2');
    // Never started, so nothing is billed.
    expect(await bed.db.query(`SELECT * FROM usage`)).toEqual([]);
  });

  it('lets an evaluateOnExit rule stop retries for one exit code and not another', async () => {
    await bed.worker.join({ id: 'w-rules' });
    const f = await bed.api.fixture({ retryStrategy: { attempts: 3, evaluateOnExit: [{ onExitCode: '3', action: 'EXIT' }] } });
    const three = await submit(f.queue, f.definition);
    const four = await submit(f.queue, f.definition);
    await start();
    await waitFor('both placed', async () => (await bed.worker.dispatched('w-rules')).length === 2);
    for (const [id, code] of [[three, 3], [four, 4]] as const) {
      await bed.worker.report({
        type: 'attempt-exited', jobId: id, attempt: 1, workerId: 'w-rules', containerId: 'c', startedAt: new Date(Date.now() - 1000).toISOString(),
        stoppedAt: new Date().toISOString(), end: { kind: 'exited', exitCode: code, oomKilled: false }, logs: [], logsTruncated: false,
      });
    }
    await waitFor('the exit-3 job FAILED', async () => (await job(three)).status === 'FAILED');
    await waitFor('the exit-4 job retried', async () => (await bed.worker.dispatched('w-rules')).some((d) => d.jobId === four && d.attempt === 2));
    expect((await job(three)).attempts).toHaveLength(1);
  });

  it('a new leader rebuilds allocations from Postgres and does not over-commit', async () => {
    await bed.worker.join({ id: 'w-full', vcpus: 1 });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    const first = await submit(f.queue, f.definition);
    await start();
    await waitFor('placement', async () => (await job(first)).status === 'STARTING');
    await bed.stopSchedulers();
    const second = await submit(f.queue, f.definition);
    await start();
    await waitFor('the second job to get a reason', async () => (await job(second)).statusReason?.startsWith('RESOURCE'));
    expect((await bed.worker.dispatched('w-full')).map((d) => d.jobId)).toEqual([first]);
  });

  it('keeps exactly one leader among replicas', async () => {
    const a = await start();
    const b = await start();
    await waitFor('a leader', () => a.isLeader() || b.isLeader());
    expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
  });

  it('keeps a job nobody can run waiting with UNSCHEDULABLE, and runs it when a big worker joins', async () => {
    await bed.worker.join({ id: 'w-small', vcpus: 2 });
    const f = await bed.api.fixture({ resources: { vcpus: 16, memoryMiB: 64 } });
    const id = await submit(f.queue, f.definition);
    await start();
    const reason = await waitFor('UNSCHEDULABLE', async () => {
      const r = (await job(id)).statusReason;
      return r?.startsWith('UNSCHEDULABLE') ? r : undefined;
    });
    expect(reason).toBe('UNSCHEDULABLE: no worker has 16 vCPU (largest: 2)');
    await bed.worker.join({ id: 'w-big', vcpus: 32 });
    await waitFor('placement on the big worker', async () => (await bed.worker.dispatched('w-big')).some((d) => d.jobId === id));
  });

  it('keeps each waiting job\'s reason current across passes: a job that arrives behind it gets its own, and the reasons change when a worker joins', async () => {
    await bed.worker.join({ id: 'w-one', vcpus: 8, memoryMiB: 8192, gpus: [GPU(0)] });
    const small = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 1024, gpus: 1 } });
    const pair = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 1024, gpus: 2 } });
    const a = await submit(small.queue, small.definition);
    const b = await submit(pair.queue, pair.definition);
    await start();
    await waitFor('a placed', async () => (await job(a)).status === 'STARTING');
    const never = 'UNSCHEDULABLE: no worker has 2 GPU (largest: 1)';
    await waitFor('b to say why it waits', async () => (await job(b)).statusReason === never);
    // Nothing else changes: the scheduler decides the new job alone, and it still gets its reason.
    const c = await submit(pair.queue, pair.definition);
    const reasonOfC = await waitFor('c to say why it waits', async () => {
      const r = (await job(c)).statusReason;
      return r && r !== 'Waiting for the scheduler' ? r : undefined;
    });
    expect(reasonOfC).toBe(never);
    expect(await job(c)).toMatchObject({ status: 'RUNNABLE' });

    await bed.worker.join({ id: 'w-two', vcpus: 8, memoryMiB: 8192, gpus: [GPU(0), GPU(1)] });
    await waitFor('b placed on the new worker', async () => (await bed.worker.dispatched('w-two')).some((d) => d.jobId === b));
    // b took the new worker's GPUs: c could run on it, but not now.
    const now = await waitFor('c\'s reason to change', async () => {
      const r = (await job(c)).statusReason;
      return r !== never ? r : undefined;
    });
    expect(now).toBe('RESOURCE: needs 2 GPU, 1 vCPU, 1024 MiB; largest free block is 0 on worker w-one');
    expect(await job(c)).toMatchObject({ status: 'RUNNABLE' });
  });

  it('stops placing on a worker that is silent past the timeout (LOST) or draining', async () => {
    await bed.worker.join({ id: 'w-silent', heartbeatAt: Date.now() - 60_000 });
    await bed.worker.join({ id: 'w-draining', state: 'DRAINING' });
    bed.worker.heartbeat('w-draining');
    await start({ WORKER_HEARTBEAT_TIMEOUT_MS: '1000' });
    // Silent by the scheduler's clock: its entry has not changed for the timeout since the scheduler first read it.
    await waitFor('w-silent LOST', async () => (await bed.api.get('/api/v1/workers/w-silent')).body.state === 'LOST');
    const f = await bed.api.fixture();
    const id = await submit(f.queue, f.definition);
    await waitFor('a reason', async () => (await job(id)).statusReason?.startsWith('UNSCHEDULABLE'));
    const states = (await bed.api.get('/api/v1/workers?limit=1000')).body.workers.map((w: { workerId: string; state: string }) => [w.workerId, w.state]);
    expect(states).toEqual([['w-draining', 'DRAINING'], ['w-silent', 'LOST']]);
  });

  it('places by GPU model, labels and NVLink group, from a FAIR_SHARE queue', async () => {
    await bed.worker.join({ id: 'w-t4', labels: { zone: 'a' }, gpus: [0, 1, 2, 3].map((i) => ({ ...GPU(i), model: 'Tesla T4' })) });
    await bed.worker.join({ id: 'w-a100-b', labels: { zone: 'b' }, gpus: [0, 1, 2, 3].map(GPU) });
    await bed.worker.join({ id: 'w-a100-a', labels: { zone: 'a', nvlink: 'true' }, gpus: [0, 1, 2, 3].map((i) => ({ ...GPU(i), nvlinkGroup: i < 2 ? 0 : 1 })) });
    await bed.worker.join({ id: 'w-busy', labels: { zone: 'a' }, gpus: [0, 1].map(GPU) });
    const f = await bed.api.fixture(
      { resources: { vcpus: 1, memoryMiB: 64, gpus: 2, gpuModel: 'A100|H100' }, labelSelector: 'zone=a,nvlink' },
      { schedulingPolicy: 'FAIR_SHARE' },
    );
    const id = await submit(f.queue, f.definition, { project: 'vision' });
    await start();
    const [d] = await waitFor('placement', async () => {
      const list = await bed.worker.dispatched('w-a100-a');
      return list.length ? list : undefined;
    });
    expect(d).toMatchObject({ jobId: id, gpuDevices: [0, 1] });
    expect((await bed.api.get(`/api/v1/job-queues/${f.queue}`)).body.schedulingPolicy).toBe('FAIR_SHARE');
    const w = (await bed.api.get('/api/v1/workers/w-a100-a')).body;
    expect(w).toMatchObject({ labels: { zone: 'a', nvlink: 'true' }, free: { gpus: 2 }, allocated: { gpus: 2 } });
    expect(w.gpus.map((g: { jobId: string | null; nvlinkGroup: number }) => [g.jobId, g.nvlinkGroup])).toEqual([[id, 0], [id, 0], [null, 1], [null, 1]]);
  });

  it('reserves a worker for a blocked big job and backfills only jobs that end before it starts', async () => {
    // Five GPUs: after the 3-GPU job and the backfilled 1-GPU job, one stays free, held back by the reservation.
    await bed.worker.join({ id: 'w-4', gpus: [0, 1, 2, 3, 4].map(GPU) });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64, gpus: 1 } });
    await start();
    const first = await submit(f.queue, f.definition, { overrides: { resources: { gpus: 3 } }, timeoutSeconds: 3600 });
    await waitFor('the 3-GPU job to be placed', async () => (await job(first)).status === 'STARTING');
    const big = await submit(f.queue, f.definition, { overrides: { resources: { gpus: 5 } }, timeoutSeconds: 600 });
    const endless = await submit(f.queue, f.definition);
    const short = await submit(f.queue, f.definition, { timeoutSeconds: 60 });

    await waitFor('the short job to backfill', async () => (await job(short)).status === 'STARTING');
    const reserved = await waitFor('the reservation reason', async () => {
      const r = (await job(big)).statusReason;
      return r?.startsWith('RESERVED') ? r : undefined;
    });
    expect(reserved).toMatch(/^RESERVED: waiting for worker w-4, estimated start \d{4}-\d\d-\d\d \d\d:\d\dZ$/);
    // The pass that placed the short job writes the reasons after its placements' commit: wait for them, not for the commit.
    const blocked = await waitFor('the blocked job\'s reason', async () => {
      const j = await job(endless);
      return j.statusReason === 'Waiting for the scheduler' ? undefined : j;
    });
    expect(blocked.status).toBe('RUNNABLE');
    expect(blocked.statusReason).toMatch(new RegExp(`^PRIORITY: worker w-4 is reserved for job ${big} from .*; a job without timeoutSeconds cannot backfill$`));
  });

  describe('cancel, terminate and lost workers', () => {

    it('cancels a waiting job: FAILED with the reason, and the scheduler never places it', async () => {
      const f = await bed.api.fixture();
      const id = await submit(f.queue, f.definition);
      await start();
      expect(await bed.api.post(`/api/v1/jobs/${id}/cancel`, { reason: 'Wrong input data' })).toEqual({ status: 200, body: { jobId: id, status: 'FAILED' } });
      const cancelled = await job(id);
      expect(cancelled).toMatchObject({ status: 'FAILED', statusReason: 'Wrong input data' });
      expect(cancelled.events.at(-1)).toMatchObject({ from: 'RUNNABLE', to: 'FAILED', reason: 'Wrong input data' });
      await bed.worker.join({ id: 'w-late' });
      const other = await submit(f.queue, f.definition);
      await waitFor('the other job to be placed', async () => (await bed.worker.dispatched('w-late')).some((d) => d.jobId === other));
      expect((await bed.worker.dispatched('w-late')).map((d) => d.jobId)).toEqual([other]);
      // Finished jobs are left as they are; a missing reason is a 400; an unknown job a 404.
      expect(await bed.api.post(`/api/v1/jobs/${id}/terminate`, { reason: 'again' })).toEqual({ status: 200, body: { jobId: id, status: 'FAILED' } });
      expect((await bed.api.post(`/api/v1/jobs/${id}/cancel`, { reason: '' })).body.message).toBe('reason must not be empty');
      expect((await bed.api.post('/api/v1/jobs/nope/cancel', { reason: 'x' })).status).toBe(404);
    });

    it('terminates a job no worker claimed yet: FAILED with the reason, not retried, its GPU freed for the next job', async () => {
      await bed.worker.join({ id: 'w-1', gpus: [GPU(0)] });
      const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64, gpus: 1 }, retryStrategy: { attempts: 3 } });
      const first = await submit(f.queue, f.definition);
      const second = await submit(f.queue, f.definition);
      await start();
      await waitFor('first placed', async () => (await job(first)).status === 'STARTING');
      expect((await bed.api.post(`/api/v1/jobs/${first}/cancel`, { reason: 'x' })).body.code).toBe('JOB_NOT_CANCELLABLE');
      const res = await bed.api.post(`/api/v1/jobs/${first}/terminate`, { reason: 'Operator stop' });
      // Withdrawn before any worker claimed it: it ends at once, with no container to wait for.
      expect(res.body).toEqual({ jobId: first, status: 'FAILED' });
      const done = await job(first);
      expect(done.statusReason).toBe('Operator stop');
      expect(done.attempts).toHaveLength(1);
      await waitFor('the freed GPU to go to the second job', async () => (await bed.worker.dispatched('w-1')).some((d) => d.jobId === second && d.gpuDevices[0] === 0));
    });

    it('sends terminate to the worker running the job', async () => {
      await bed.worker.join({ id: 'w-run' });
      await bed.worker.claim('w-run');
      const f = await bed.api.fixture();
      const id = await submit(f.queue, f.definition);
      await start();
      await waitFor('placement', async () => (await job(id)).status === 'STARTING');
      await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-run', containerId: 'c', startedAt: new Date().toISOString() });
      await waitFor('RUNNING', async () => (await job(id)).status === 'RUNNING');
      expect((await bed.api.post(`/api/v1/jobs/${id}/terminate`, { reason: 'Stop it' })).body).toEqual({ jobId: id, status: 'RUNNING', stopping: true });
      expect(await bed.worker.commands('w-run')).toEqual([{ type: 'terminate', jobId: id, attempt: 1, reason: 'Stop it' }]);
    });

    it('fails a lost worker\'s attempts with "Worker lost", bills to the last heartbeat, retries elsewhere, and stops them when it returns', async () => {
      await bed.worker.join({ id: 'w-doomed' });
      await bed.worker.claim('w-doomed');
      const f = await bed.api.fixture({ retryStrategy: { attempts: 2 } });
      const id = await submit(f.queue, f.definition);
      await start({ WORKER_HEARTBEAT_TIMEOUT_MS: '2000' });
      await waitFor('placement', async () => (await job(id)).status === 'STARTING');
      const startedAt = new Date(Date.now() - 5000).toISOString();
      await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-doomed', containerId: 'c', startedAt });
      await waitFor('RUNNING', async () => (await job(id)).status === 'RUNNING');

      await bed.worker.silence('w-doomed', 3000);
      const lastHeartbeat = JSON.parse((await bed.worker.redis.get('gpubatch:worker:w-doomed'))!).heartbeatAt;
      await bed.worker.join({ id: 'w-healthy' });
      bed.worker.heartbeat('w-healthy');
      await waitFor('the retry on the healthy worker', async () => (await bed.worker.dispatched('w-healthy')).some((d) => d.jobId === id && d.attempt === 2));
      const detail = await job(id);
      expect(detail.attempts[0]).toMatchObject({ status: 'FAILED', reason: 'Worker lost: w-doomed', workerId: 'w-doomed' });
      expect(detail.events.map((e: { to: string }) => e.to)).toEqual(['SUBMITTED', 'RUNNABLE', 'STARTING', 'RUNNING', 'RUNNABLE', 'STARTING']);
      const [usage] = await bed.db.query(`SELECT started_at, stopped_at FROM usage WHERE job_id = $1`, [id]);
      expect(usage).toEqual({ started_at: new Date(startedAt), stopped_at: new Date(lastHeartbeat) });
      expect((await bed.api.get('/api/v1/workers/w-doomed')).body).toMatchObject({ state: 'LOST', allocated: { vcpus: 0, gpus: 0 } });

      await bed.worker.join({ id: 'w-doomed' }); // it comes back
      await waitFor('a terminate for the stale attempt', async () => (await bed.worker.commands('w-doomed')).some((c) => c.jobId === id && c.attempt === 1));
    });

  });

  describe('terminate and lost workers together', () => {
    it('does not retry a terminated job whose worker is lost before it reports', async () => {
      await bed.worker.join({ id: 'w-t' });
      await bed.worker.claim('w-t');
      await bed.worker.join({ id: 'w-other' });
      const f = await bed.api.fixture({ retryStrategy: { attempts: 3 }, resources: { vcpus: 4, memoryMiB: 64 } });
      const id = await submit(f.queue, f.definition);
      await start({ WORKER_HEARTBEAT_TIMEOUT_MS: '2000' });
      await waitFor('placement', async () => (await job(id)).status === 'STARTING');
      const holder = (await job(id)).attempts[0].workerId;
      if (holder !== 'w-t') await bed.worker.claim(holder);
      await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: holder, containerId: 'c', startedAt: new Date().toISOString() });
      await waitFor('RUNNING', async () => (await job(id)).status === 'RUNNING');
      await bed.api.post(`/api/v1/jobs/${id}/terminate`, { reason: 'Operator stop' });
      await bed.worker.silence(holder, 5000);
      const done = await waitFor('FAILED', async () => {
        const j = await job(id);
        return j.status === 'FAILED' ? j : undefined;
      });
      expect(done.statusReason).toBe('Operator stop');
      expect(done.attempts).toHaveLength(1);
      expect(done.attempts[0].reason).toBe(`Worker lost: ${holder}`);
    });
  });

  describe('dependencies', () => {
    const exit = (jobId: string, code: number) => bed.worker.report({
      type: 'attempt-exited', jobId, attempt: 1, workerId: 'w-dep', containerId: 'c', startedAt: new Date(Date.now() - 500).toISOString(),
      stoppedAt: new Date().toISOString(), end: { kind: 'exited', exitCode: code, oomKilled: false }, logs: [], logsTruncated: false,
    });

    it('holds a job PENDING until its dependencies succeed, then runs it', async () => {
      await bed.worker.join({ id: 'w-dep' });
      const f = await bed.api.fixture();
      const a = await submit(f.queue, f.definition);
      const b = await submit(f.queue, f.definition);
      const c = await submit(f.queue, f.definition, { dependsOn: [{ jobId: a }, { jobId: b }] });
      const pending = await job(c);
      expect(pending).toMatchObject({ status: 'PENDING', statusReason: `DEPENDENCY: waiting for ${[a, b].sort().join(', ')}` });
      expect(pending.dependsOn.map((d: { jobId: string }) => d.jobId).sort()).toEqual([a, b].sort());
      await start();
      await waitFor('a and b placed', async () => (await bed.worker.dispatched('w-dep')).length === 2);
      await exit(a, 0);
      await waitFor('the reason to name only b', async () => (await job(c)).statusReason === `DEPENDENCY: waiting for ${b}`);
      expect((await job(c)).status).toBe('PENDING');
      await exit(b, 0);
      await waitFor('c placed', async () => (await bed.worker.dispatched('w-dep')).some((d) => d.jobId === c));
      expect((await job(c)).events.map((e: { to: string }) => e.to)).toEqual(['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING']);
    });

    it('fails the dependants of a failed job, transitively, with the failed job named', async () => {
      await bed.worker.join({ id: 'w-dep' });
      const f = await bed.api.fixture();
      const a = await submit(f.queue, f.definition);
      const b = await submit(f.queue, f.definition, { dependsOn: [{ jobId: a }] });
      const c = await submit(f.queue, f.definition, { dependsOn: [{ jobId: b }] });
      await start();
      await waitFor('a placed', async () => (await bed.worker.dispatched('w-dep')).length === 1);
      await exit(a, 3);
      await waitFor('c FAILED', async () => (await job(c)).status === 'FAILED');
      expect((await job(b)).statusReason).toBe(`Dependent job ${a} failed`);
      expect((await job(c)).statusReason).toBe(`Dependent job ${b} failed`);
      // A job submitted behind a failed one fails at once.
      const d = await submit(f.queue, f.definition, { dependsOn: [{ jobId: a }] });
      expect(await job(d)).toMatchObject({ status: 'FAILED', statusReason: `Dependent job ${a} failed` });
    });

    it('fails the dependants of a cancelled job', async () => {
      const f = await bed.api.fixture();
      const a = await submit(f.queue, f.definition);
      const b = await submit(f.queue, f.definition, { dependsOn: [{ jobId: a }] });
      await start();
      await bed.api.post(`/api/v1/jobs/${a}/cancel`, { reason: 'not needed' });
      await waitFor('b FAILED', async () => (await job(b)).status === 'FAILED');
      expect((await job(b)).statusReason).toBe(`Dependent job ${a} failed`);
    });

    it.each([
      ['an unknown job', (ids: string[]) => [{ jobId: 'no-such-job' }, { jobId: ids[0] }], 'dependsOn names jobs that do not exist: no-such-job'],
      ['the same job twice', (ids: string[]) => [{ jobId: ids[0] }, { jobId: ids[0] }], 'dependsOn must not name a job twice'],
      ['101 dependencies', () => Array.from({ length: 101 }, (_, i) => ({ jobId: `j${i}` })), 'dependsOn must contain no more than 100 elements'],
      ['a dependency without jobId', () => [{}], 'dependsOn entries need a jobId (except type SEQUENTIAL)'],
    ])('rejects %s with 400', async (_c, deps, message) => {
      const f = await bed.api.fixture();
      const a = await submit(f.queue, f.definition);
      const res = await bed.api.post('/api/v1/jobs', { name: 'x', queue: f.queue, definition: f.definition, dependsOn: deps([a]) });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(message);
    });
  });

  describe('array jobs', () => {
    const finish = (jobId: string, code = 0, workerId = 'w-arr') => bed.worker.report({
      type: 'attempt-exited', jobId, attempt: 1, workerId, containerId: 'c', startedAt: new Date(Date.now() - 500).toISOString(),
      stoppedAt: new Date().toISOString(), end: { kind: 'exited', exitCode: code, oomKilled: false }, logs: [], logsTruncated: false,
    });
    const placed = async (workerId = 'w-arr') => (await bed.worker.dispatched(workerId)).map((d) => d.jobId);

    it('runs every child with its index, lists children through the parent, and succeeds when all do', async () => {
      await bed.worker.join({ id: 'w-arr', vcpus: 64 });
      const f = await bed.api.fixture();
      const parent = await submit(f.queue, f.definition, { array: { size: 5 } });
      const p = await job(parent);
      expect(p).toMatchObject({ status: 'PENDING', statusReason: 'ARRAY: 5 children', arrayProperties: { size: 5, statusSummary: { RUNNABLE: 5 } } });
      expect((await bed.api.get(`/api/v1/jobs?queue=${f.queue}`)).body.jobs.map((j: { jobId: string }) => j.jobId)).toEqual([parent]);
      const children = (await bed.api.get(`/api/v1/jobs?arrayJobId=${parent}`)).body.jobs.map((j: { jobId: string }) => j.jobId);
      expect(children.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `${parent}:${i}`).sort());
      const child = await job(`${parent}:3`);
      expect(child).toMatchObject({ arrayProperties: { parentId: parent, index: 3 } });
      expect(child.environment.GPUBATCH_ARRAY_INDEX).toBe('3');

      await start();
      await waitFor('all five placed', async () => (await placed()).length === 5);
      const dispatched = await bed.worker.dispatched('w-arr');
      expect(dispatched.find((d) => d.jobId === `${parent}:3`)!.environment.GPUBATCH_ARRAY_INDEX).toBe('3');
      for (let i = 0; i < 5; i++) await finish(`${parent}:${i}`);
      const done = await waitFor('parent SUCCEEDED', async () => {
        const j = await job(parent);
        return j.status === 'SUCCEEDED' ? j : undefined;
      });
      expect(done).toMatchObject({ statusReason: 'All 5 children succeeded', arrayProperties: { size: 5, statusSummary: { SUCCEEDED: 5 } } });
      expect(done.events.map((e: { to: string }) => e.to)).toEqual(['SUBMITTED', 'PENDING', 'SUCCEEDED']);
    });

    it('fails the parent when a child fails, and runs SEQUENTIAL children one after another', async () => {
      await bed.worker.join({ id: 'w-arr', vcpus: 64 });
      const f = await bed.api.fixture();
      const parent = await submit(f.queue, f.definition, { array: { size: 3 }, dependsOn: [{ type: 'SEQUENTIAL' }] });
      expect((await job(`${parent}:1`))).toMatchObject({ status: 'PENDING', statusReason: `DEPENDENCY: waiting for ${parent}:0` });
      await start();
      await waitFor('child 0 placed', async () => (await placed()).length === 1);
      expect(await placed()).toEqual([`${parent}:0`]);
      await finish(`${parent}:0`);
      await waitFor('child 1 placed', async () => (await placed()).includes(`${parent}:1`));
      expect(await placed()).not.toContain(`${parent}:2`);
      await finish(`${parent}:1`, 3);
      const failed = await waitFor('parent FAILED', async () => {
        const j = await job(parent);
        return j.status === 'FAILED' ? j : undefined;
      });
      expect(failed.statusReason).toBe('2 of 3 children failed');
      expect((await job(`${parent}:2`)).statusReason).toBe(`Dependent job ${parent}:1 failed`);
    });

    it('makes N_TO_N child i wait for child i of the other array', async () => {
      await bed.worker.join({ id: 'w-arr', vcpus: 64 });
      const f = await bed.api.fixture();
      const a = await submit(f.queue, f.definition, { array: { size: 3 } });
      const b = await submit(f.queue, f.definition, { array: { size: 3 }, dependsOn: [{ jobId: a, type: 'N_TO_N' }] });
      expect((await job(`${b}:2`))).toMatchObject({ status: 'PENDING', statusReason: `DEPENDENCY: waiting for ${a}:2` });
      await start();
      await waitFor('the three children of a placed', async () => (await placed()).length === 3);
      await finish(`${a}:1`);
      await finish(`${a}:2`, 3);
      await waitFor('b:1 placed', async () => (await placed()).includes(`${b}:1`));
      await waitFor('b:2 failed', async () => (await job(`${b}:2`)).status === 'FAILED');
      expect((await job(`${b}:2`)).statusReason).toBe(`Dependent job ${a}:2 failed`);
      expect(await placed()).not.toContain(`${b}:0`);
    });

    it('cancels the waiting children with the parent, which then fails', async () => {
      const f = await bed.api.fixture();
      const parent = await submit(f.queue, f.definition, { array: { size: 4 } });
      await start();
      const res = await bed.api.post(`/api/v1/jobs/${parent}/cancel`, { reason: 'Not needed' });
      expect(res.status).toBe(200);
      const failed = await waitFor('parent FAILED', async () => {
        const j = await job(parent);
        return j.status === 'FAILED' ? j : undefined;
      });
      expect(failed).toMatchObject({ statusReason: '4 of 4 children failed', arrayProperties: { statusSummary: { FAILED: 4 } } });
      expect((await job(`${parent}:0`)).statusReason).toBe('Not needed');
    });

    it.each([
      ['size 1', { array: { size: 1 } }, 'array.size must not be less than 2'],
      ['size 10,001', { array: { size: 10_001 } }, 'array.size must not be greater than 10000'],
      ['a typed dependency without array', { dependsOn: [{ type: 'SEQUENTIAL' }] }, 'dependsOn type N_TO_N or SEQUENTIAL needs an array job (array.size)'],
      ['SEQUENTIAL with a jobId', { array: { size: 2 }, dependsOn: [{ type: 'SEQUENTIAL', jobId: 'x' }] }, 'dependsOn type SEQUENTIAL takes no jobId'],
      ['an unknown dependency type', { array: { size: 2 }, dependsOn: [{ type: 'ALL' }] }, 'type must be N_TO_N or SEQUENTIAL'],
    ])('rejects %s with 400', async (_c, extra, message) => {
      const f = await bed.api.fixture();
      const res = await bed.api.post('/api/v1/jobs', { name: 'x', queue: f.queue, definition: f.definition, ...extra });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(message);
    });

    it('rejects N_TO_N on an array of another size', async () => {
      const f = await bed.api.fixture();
      const a = await submit(f.queue, f.definition, { array: { size: 3 } });
      const res = await bed.api.post('/api/v1/jobs', { name: 'x', queue: f.queue, definition: f.definition, array: { size: 4 }, dependsOn: [{ jobId: a, type: 'N_TO_N' }] });
      expect(res.body).toMatchObject({ statusCode: 400, message: `dependsOn N_TO_N needs an array job of size 4; ${a} has size 3` });
    });
  });
});
