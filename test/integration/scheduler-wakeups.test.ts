import { schedulerTestbed } from '../support/scheduler-testbed.js';
import { waitFor } from '../support/wait-for.js';

// Longer than any wait below: what happens in these tests happens without the interval timer.
const NO_TIMER = { SCHEDULER_INTERVAL_MS: '60000' };

describe('scheduler wake-ups: passes asked for by submits, reports and workers (real Postgres and Redis)', () => {
  const bed = schedulerTestbed();
  const { start, submit, job } = bed;

  async function activeWorker(id: string, vcpus = 4) {
    await bed.worker.join({ id, vcpus });
    bed.worker.heartbeat(id);
    // The join's notice asks for a full pass, which reads the heartbeats and records the worker.
    await waitFor(`${id} ACTIVE`, async () => (await bed.api.get(`/api/v1/workers/${id}`)).body.state === 'ACTIVE', 15_000);
    // Its join notice taken too: the full pass it asks for is not still to come.
    await waitFor('the join notice recorded', () => bed.worker.reportsConsumed());
  }

  it('places a job submitted to an idle cluster at once, and the next one when the first exits, with no timer pass', async () => {
    const f = await bed.api.fixture({ resources: { vcpus: 4, memoryMiB: 64 } });
    await start(NO_TIMER);
    await activeWorker('w-idle');

    const first = await submit(f.queue, f.definition);
    const [d] = await waitFor('the first placement', async () => {
      const list = await bed.worker.dispatched('w-idle');
      return list.length === 1 ? list : undefined;
    }, 15_000);
    expect(d.jobId).toBe(first);
    expect((await job(first)).status).toBe('STARTING');

    // The worker is full: the second waits, with its reason, until the first's exit report frees it.
    const second = await submit(f.queue, f.definition);
    await waitFor('a reason on the second job', async () => (await job(second)).statusReason?.startsWith('RESOURCE'), 15_000);
    const startedAt = new Date().toISOString();
    await bed.worker.report({ type: 'attempt-running', jobId: first, attempt: 1, workerId: 'w-idle', containerId: 'c1', startedAt });
    await bed.worker.report({
      type: 'attempt-exited', jobId: first, attempt: 1, workerId: 'w-idle', containerId: 'c1', startedAt, stoppedAt: new Date().toISOString(),
      end: { kind: 'exited', exitCode: 0, oomKilled: false }, logs: [], logsTruncated: false,
    });
    await waitFor('the second placement', async () => (await bed.worker.dispatched('w-idle')).some((p) => p.jobId === second), 15_000);
    expect((await job(first)).status).toBe('SUCCEEDED');
    expect((await job(second)).status).toBe('STARTING');
  });

  it('follows a job queue created after it started, announced by the API, and places its job with no timer pass', async () => {
    await start(NO_TIMER);
    await activeWorker('w-new-queue');
    // Created now: no pass has read it, and its intake has no consumer until one does.
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    const id = await submit(f.queue, f.definition);
    await waitFor('the placement', async () => (await bed.worker.dispatched('w-new-queue')).some((p) => p.jobId === id), 15_000);
    expect((await job(id)).status).toBe('STARTING');
  });

  it('writes a change in a waiting reason\'s detail that came too soon after the last write, with nothing else to prompt it', async () => {
    const small = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    const big = await bed.api.fixture({ resources: { vcpus: 4, memoryMiB: 64 } });
    await start();
    await activeWorker('w-reasons', 4);
    const running = [await submit(small.queue, small.definition), await submit(small.queue, small.definition)];
    await waitFor('two placements', async () => (await bed.worker.dispatched('w-reasons')).length === 2, 15_000);
    const waiting = await submit(big.queue, big.definition);
    const first = await waitFor('a reason', async () => (await job(waiting)).statusReason?.match(/^RESOURCE: .*/)?.[0], 15_000);
    // One of the two ends: the largest free block grows, a change in detail only, within REASON_DETAIL_REFRESH_MS of the
    // last write, so it is held back; the passes after it (nothing else changes) write it once the window is up.
    const startedAt = new Date().toISOString();
    await bed.worker.report({
      type: 'attempt-exited', jobId: running[0], attempt: 1, workerId: 'w-reasons', containerId: 'c1', startedAt, stoppedAt: new Date().toISOString(),
      end: { kind: 'exited', exitCode: 0, oomKilled: false }, logs: [], logsTruncated: false,
    });
    const second = await waitFor('the new detail', async () => {
      const reason = (await job(waiting)).statusReason;
      return reason !== first ? reason : undefined;
    }, 15_000);
    expect(first).toMatch(/^RESOURCE: needs 4 vCPU, 64 MiB; most free is 2 vCPU, \d+ MiB on worker w-reasons$/);
    expect(second).toMatch(/^RESOURCE: needs 4 vCPU, 64 MiB; most free is 3 vCPU, \d+ MiB on worker w-reasons$/);
  });

  it('honours a drain asked through the API in the next placement, though only a full pass reads the workers', async () => {
    const f = await bed.api.fixture({ resources: { vcpus: 1, memoryMiB: 64 } });
    await start(NO_TIMER);
    await activeWorker('w-drained');
    const placed = await submit(f.queue, f.definition);
    await waitFor('a placement before the drain', async () => (await bed.worker.dispatched('w-drained')).some((p) => p.jobId === placed), 15_000);

    expect((await bed.api.post('/api/v1/workers/w-drained/drain', {})).status).toBe(200);
    const id = await submit(f.queue, f.definition);
    const waiting = await waitFor('the scheduler\'s reason on the job', async () => {
      const j = await job(id);
      return j.statusReason && j.statusReason !== 'Waiting for the scheduler' ? j : undefined;
    }, 15_000);
    expect(waiting.status).toBe('RUNNABLE');
    expect(waiting.statusReason).toMatch(/^UNSCHEDULABLE/);
    expect((await bed.worker.dispatched('w-drained')).map((p) => p.jobId)).toEqual([placed]);
  });
});
