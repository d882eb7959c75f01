import { attemptKey } from '#libs/queue';
import { schedulerTestbed } from '../support/scheduler-testbed.js';
import { waitFor } from '../support/wait-for.js';

const GPU = (index: number) => ({ index, uuid: null, model: 'A100', memoryMiB: 81920 });

describe('scheduler systems: liveness, reconciliation with workers, timeouts, limits (real Postgres and Redis)', () => {
  const bed = schedulerTestbed();
  const { start, submit, job } = bed;

  it('fails an attempt its worker stopped listing with "Container lost" after the grace, and frees its GPU', async () => {
    const listed = new Set<string>();
    await bed.worker.join({ id: 'w-1', gpus: [GPU(0)], attempts: [] });
    bed.worker.heartbeat('w-1', { attempts: () => [...listed] });
    await bed.worker.claim('w-1');
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64, gpus: 1 } });
    const id = await submit(f.queue, f.definition);
    listed.add(attemptKey(id, 1)); // claimed as soon as dispatched
    await start({ SCHEDULER_ATTEMPT_GRACE_MS: '3000' });
    await waitFor('placement', async () => (await bed.worker.dispatched('w-1')).some((d) => d.jobId === id));
    await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-1', containerId: 'c', startedAt: new Date().toISOString() });
    await waitFor('RUNNING', async () => (await job(id)).status === 'RUNNING');
    expect((await bed.api.get('/api/v1/workers/w-1')).body).toMatchObject({ state: 'ACTIVE', allocated: { gpus: 1 } });

    const droppedAt = Date.now();
    listed.clear(); // the container vanished; the worker lives on
    const failed = await waitFor('FAILED', async () => {
      const j = await job(id);
      return j.status === 'FAILED' ? j : undefined;
    });
    // The grace runs from the last heartbeat that listed the attempt, which can be one beat (200 ms) before the drop.
    expect(Date.now() - droppedAt).toBeGreaterThanOrEqual(3000 - 200);
    expect(failed.statusReason).toBe('Container lost: worker w-1 no longer runs attempt 1');
    expect(failed.attempts[0]).toMatchObject({ status: 'FAILED', reason: 'Container lost: worker w-1 no longer runs attempt 1' });
    expect((await bed.api.get('/api/v1/workers/w-1')).body).toMatchObject({ state: 'ACTIVE', allocated: { gpus: 0 } });
  });

  it('spares an attempt its worker process has locked but not listed yet (busy), and ends it once a new process runs there', async () => {
    await bed.worker.join({ id: 'w-busy', attempts: [] });
    let claimer = await bed.worker.claim('w-busy');
    // The dispatch lock is taken, the process never gets to listing the attempt: an event loop seconds behind.
    bed.worker.heartbeat('w-busy', { attempts: () => [], claimer: () => claimer });
    const f = await bed.api.fixture();
    const id = await submit(f.queue, f.definition);
    await start({ SCHEDULER_ATTEMPT_GRACE_MS: '1000' });
    await waitFor('placement', async () => (await job(id)).status === 'STARTING');
    await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-busy', containerId: 'c', startedAt: new Date().toISOString() });
    await waitFor('RUNNING', async () => (await job(id)).status === 'RUNNING');
    // Several graces of heartbeats that omit it: its lock says this process holds it.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect((await job(id)).status).toBe('RUNNING');

    // The worker restarts: the new process has another claimer id, and the lock left behind is not its own.
    // Its first heartbeat would list an attempt it took over; this one does not, and the grace has long run out.
    claimer = 'a-new-process';
    const failed = await waitFor('FAILED', async () => {
      const j = await job(id);
      return j.status === 'FAILED' ? j : undefined;
    });
    expect(failed.statusReason).toBe('Container lost: worker w-busy no longer runs attempt 1');
  });

  it('fails as timed out, without retrying, an attempt past timeout and grace whose worker went silent', async () => {
    const f = await bed.api.fixture({ retryStrategy: { attempts: 3 } });
    await bed.worker.join({ id: 'w-quiet', attempts: [] });
    await bed.worker.claim('w-quiet');
    const id = await submit(f.queue, f.definition, { timeoutSeconds: 1 });
    const fallSilent = bed.worker.heartbeat('w-quiet', { attempts: () => [attemptKey(id, 1)] });
    await start({ SCHEDULER_ATTEMPT_GRACE_MS: '1000', SCHEDULER_TIMEOUT_GRACE_SECONDS: '1' });
    await waitFor('placement', async () => (await job(id)).status === 'STARTING');
    const startedAt = new Date().toISOString();
    await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-quiet', containerId: 'c', startedAt });
    await waitFor('RUNNING', async () => (await job(id)).status === 'RUNNING');
    fallSilent();

    const failed = await waitFor('FAILED', async () => {
      const j = await job(id);
      return j.status === 'FAILED' ? j : undefined;
    });
    expect(failed.statusReason).toBe('Job attempt duration exceeded timeout');
    expect(failed.attempts).toHaveLength(1);
    // Billed at most its allowed run.
    const [usage] = await bed.db.query(`SELECT started_at, stopped_at FROM usage WHERE job_id = $1`, [id]);
    expect(usage.stopped_at.getTime() - usage.started_at.getTime()).toBeLessThanOrEqual(1000);
    // Its worker is silent, not yet LOST (the default timeout is longer): the timeout, not the lost worker, ended it.
    expect((await bed.api.get('/api/v1/workers/w-quiet')).body.state).toBe('ACTIVE');
  });

  it('tells a worker to stop a container whose attempt has ended, or that the scheduler does not know', async () => {
    await bed.worker.join({ id: 'w-o', attempts: [] });
    await bed.worker.claim('w-o');
    const f = await bed.api.fixture();
    const id = await submit(f.queue, f.definition);
    // It keeps listing the attempt after reporting its exit, and one the scheduler never placed.
    bed.worker.heartbeat('w-o', { attempts: () => ['unknown-job#3', attemptKey(id, 1)] });
    await start({ SCHEDULER_ATTEMPT_GRACE_MS: '1000' });
    await waitFor('placement', async () => (await job(id)).status === 'STARTING');
    const startedAt = new Date(Date.now() - 1000).toISOString();
    await bed.worker.report({ type: 'attempt-running', jobId: id, attempt: 1, workerId: 'w-o', containerId: 'c', startedAt });
    await bed.worker.report({
      type: 'attempt-exited', jobId: id, attempt: 1, workerId: 'w-o', containerId: 'c', startedAt, stoppedAt: new Date().toISOString(),
      end: { kind: 'exited', exitCode: 0, oomKilled: false }, logs: [], logsTruncated: false,
    });
    await waitFor('SUCCEEDED', async () => (await job(id)).status === 'SUCCEEDED');

    const commands = await waitFor('terminates for both', async () => {
      const c = await bed.worker.commands('w-o');
      return c.length === 2 ? c : undefined;
    });
    expect(commands.map((c) => [c.type, c.jobId, c.attempt]).sort()).toEqual([['terminate', id, 1], ['terminate', 'unknown-job', 3]].sort());
    // Listing an ended attempt does not make it fail or change.
    expect((await job(id)).status).toBe('SUCCEEDED');
  });

  it('keeps a worker whose clock is minutes behind alive while its heartbeats keep changing', async () => {
    await bed.worker.join({ id: 'w-behind', heartbeatAt: Date.now() - 5 * 60_000 });
    bed.worker.heartbeat('w-behind', { skewMs: -5 * 60_000 });
    await start({ WORKER_HEARTBEAT_TIMEOUT_MS: '1000' });
    await waitFor('w-behind recorded', async () => (await bed.api.get('/api/v1/workers/w-behind')).body.state === 'ACTIVE');
    // Several timeouts by the scheduler's clock, while the worker's heartbeatAt stays 5 minutes old.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await bed.api.get('/api/v1/workers/w-behind')).body.state).toBe('ACTIVE');
    const f = await bed.api.fixture();
    const id = await submit(f.queue, f.definition);
    await waitFor('placement on the worker', async () => (await bed.worker.dispatched('w-behind')).some((d) => d.jobId === id));
  });

  it('enforces a GPU quota set at project creation on the very next placement', async () => {
    await bed.worker.join({ id: 'w-q', gpus: [GPU(0), GPU(1)] });
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64, gpus: 1 } });
    await start();
    // The scheduler runs and has read the (empty) project limits before the project exists.
    await waitFor('the worker recorded', async () => (await bed.api.get('/api/v1/workers/w-q')).body.state === 'ACTIVE');
    expect((await bed.api.post('/api/v1/projects', { name: 'vision', gpuQuota: 1 })).status).toBe(201);
    const ids = [await submit(f.queue, f.definition, { project: 'vision' }), await submit(f.queue, f.definition, { project: 'vision' })];
    const waiting = await waitFor('the QUOTA reason', async () => {
      for (const id of ids) {
        const j = await job(id);
        if (j.statusReason?.startsWith('QUOTA')) return j;
      }
      return undefined;
    });
    expect(waiting).toMatchObject({ status: 'RUNNABLE', statusReason: 'QUOTA: project vision holds 1/1 GPUs; this job needs 1' });
    expect(await bed.worker.dispatched('w-q')).toHaveLength(1);
  });
});
