import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Preemption through the built apps and real containers: one worker with one
 * GPU; a low-priority preemptible job holds it when an urgent job arrives in
 * a queue that may preempt.
 */
describe('end to end: preemption with the checkpoint handshake', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let call: ApiCall;
  let jobData: string;

  const job = async (id: string) => (await call('GET', `/api/v1/jobs/${id}`)).body;
  const finished = (id: string) =>
    waitFor(`job ${id} to finish`, async () => {
      const body = await job(id);
      return ['SUCCEEDED', 'FAILED'].includes(body.status) ? body : undefined;
    }, 90_000, 200);
  const logs = async (id: string, attempt: number) =>
    (await call('GET', `/api/v1/jobs/${id}/logs?attempt=${attempt}`)).body.lines.map((l: { text: string }) => l.text);
  const submit = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/api/v1/jobs', body);
    expect(res.status).toBe(201);
    return res.body.jobId as string;
  };
  const runningFor = (id: string) => waitFor(`job ${id} to run`, async () => (await job(id)).status === 'RUNNING', 30_000, 100);

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    jobData = mkdtempSync(path.join(tmpdir(), 'gpubatch-e2e-jobs-'));
    ({ cluster, call } = await startCluster({ PREEMPTION_MIN_RUNTIME_SECONDS: '1' }));
    cluster.start('worker', {
      JOB_STOP_GRACE_SECONDS: '1', WORKER_ID: 'pre-w1', WORKER_POOL: 'pre', WORKER_VCPUS: '1', WORKER_MEMORY_MIB: '512',
      WORKER_GPUS: '[{"model":"A100","memoryMiB":81920}]', JOB_NETWORK_MODE: 'none', WORKER_JOB_DATA_DIR: jobData,
    }, 'pre-w1');
    await waitFor('the worker to join', async () => (await call('GET', '/api/v1/workers')).body.workers.some(
      (w: { workerId: string; state: string }) => w.workerId === 'pre-w1' && w.state === 'ACTIVE'), 30_000, 100);
    expect((await call('POST', '/api/v1/job-queues', { name: 'pre-low', priority: 1, pools: ['pre'] })).status).toBe(201);
    const high = await call('POST', '/api/v1/job-queues', { name: 'pre-high', priority: 10, pools: ['pre'], allowPreemption: true });
    expect(high.body.allowPreemption).toBe(true);
    const image = testEnv().testImage;
    const resources = { vcpus: 0.5, memoryMiB: 64, gpus: 1 };
    expect((await call('POST', '/api/v1/job-definitions', {
      name: 'pre-victim', image, resources, preemptible: true, preemptionGraceSeconds: 60,
      command: ['sh', '-c', [
        'if [ -f "$GPUBATCH_CHECKPOINT_DIR/state" ]; then echo "restart $GPUBATCH_RESTART_COUNT resumes from $(cat "$GPUBATCH_CHECKPOINT_DIR/state")"; exit 0; fi',
        // On the notice: checkpoint for 2 s, then acknowledge, and keep running until stopped.
        'trap \'grep -q pre-urgent "$GPUBATCH_PREEMPTION_NOTICE" 2>/dev/null; echo step-7 > "$GPUBATCH_CHECKPOINT_DIR/state"; sleep 2; touch "$GPUBATCH_PREEMPTION_ACK"\' USR1',
        'echo working; while true; do sleep 0.2; done',
      ].join('\n')],
    })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-definitions', {
      name: 'pre-stubborn', image, resources, preemptible: true, preemptionGraceSeconds: 3,
      command: ['sh', '-c', 'if [ "$GPUBATCH_RESTART_COUNT" = 1 ]; then echo back; exit 0; fi; trap "" USR1; while true; do sleep 0.2; done'],
    })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-definitions', { name: 'pre-urgent', image, resources, command: ['sh', '-c', 'echo urgent done'] })).status).toBe(201);
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    await db?.destroy();
    rmSync(jobData, { recursive: true, force: true });
  });

  it('400s preemption settings out of range', async () => {
    const res = await call('POST', '/api/v1/job-definitions', {
      name: 'pre-bad', image: testEnv().testImage, resources: { vcpus: 0.5, memoryMiB: 64 }, preemptionGraceSeconds: 3601,
    });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/preemptionGraceSeconds must not be greater than 3600/);
    expect((await call('POST', '/api/v1/job-queues', { name: 'pre-bad', priority: 1, allowPreemption: 'yes' })).status).toBe(400);
  });

  it('preempts a victim that acknowledges its checkpoint: the urgent job starts then, and the victim resumes from its checkpoint without using an attempt', async () => {
    const victim = await submit({ name: 'victim', queue: 'pre-low', definition: 'pre-victim' });
    await runningFor(victim);
    const urgent = await submit({ name: 'urgent', queue: 'pre-high', definition: 'pre-urgent' });
    const reason = await waitFor('the urgent job to say whom it preempts', async () => {
      const r = (await job(urgent)).statusReason as string | null;
      return r?.startsWith('PREEMPTING') ? r : (await job(urgent)).status !== 'RUNNABLE' ? 'started' : undefined;
    }, 30_000, 50);
    expect(reason).toBe(`PREEMPTING: job ${victim} on worker pre-w1 (waiting for its checkpoint)`);

    const [u, v] = [await finished(urgent), await finished(victim)];
    expect(u.status).toBe('SUCCEEDED');
    expect(v.status).toBe('SUCCEEDED');
    expect(v.preemptionCount).toBe(1);
    expect(v.retryStrategy.attempts).toBe(1); // one attempt allowed, and it still ran again: the preemption used none
    expect(v.attempts.map((a: { status: string }) => a.status)).toEqual(['PREEMPTED', 'SUCCEEDED']);
    expect(v.attempts[0].reason).toBe(`PREEMPTED: by job ${urgent} (checkpoint acknowledged)`);
    const notice = v.events.find((e: { reason: string }) => e.reason.startsWith('Preempting:'));
    expect(notice.reason).toBe(`Preempting: job ${urgent} needs its resources; checkpoint notice sent (grace 60 s)`);
    expect(v.events.map((e: { reason: string }) => e.reason)).toContain(
      `PREEMPTED: by job ${urgent} (checkpoint acknowledged); back in the queue without using an attempt (restart 1)`);
    // Started on the acknowledgement, long before the 60 s grace would have run out.
    expect(Date.parse(u.attempts[0].startedAt)).toBeLessThan(Date.parse(notice.at) + 60_000);
    expect(Date.parse(u.attempts[0].startedAt)).toBeGreaterThanOrEqual(Date.parse(v.attempts[0].stoppedAt) - 1000);
    expect(await logs(victim, 2)).toEqual(['restart 1 resumes from step-7']);
  });

  it('stops a victim that ignores the notice once its grace is over', async () => {
    const victim = await submit({ name: 'stubborn', queue: 'pre-low', definition: 'pre-stubborn' });
    await runningFor(victim);
    const urgent = await submit({ name: 'urgent-2', queue: 'pre-high', definition: 'pre-urgent' });
    const [u, v] = [await finished(urgent), await finished(victim)];
    expect(u.status).toBe('SUCCEEDED');
    expect(v.status).toBe('SUCCEEDED');
    expect(v.attempts[0]).toMatchObject({ status: 'PREEMPTED', reason: `PREEMPTED: by job ${urgent} (not acknowledged within the grace period)` });
    const notice = v.events.find((e: { reason: string }) => e.reason.startsWith('Preempting:'));
    // Killed after its 3 s grace, and only then did the urgent job start.
    expect(Date.parse(v.attempts[0].stoppedAt)).toBeGreaterThanOrEqual(Date.parse(notice.at) + 3000 - 1000);
    expect(Date.parse(u.attempts[0].startedAt)).toBeGreaterThanOrEqual(Date.parse(v.attempts[0].stoppedAt) - 1000);
    expect(await logs(victim, 2)).toEqual(['back']);
  });

  it('takes the acknowledgement through the API too', async () => {
    const victim = await submit({ name: 'api-ack', queue: 'pre-low', definition: 'pre-stubborn', preemptionGraceSeconds: 120 });
    await runningFor(victim);
    const urgent = await submit({ name: 'urgent-3', queue: 'pre-high', definition: 'pre-urgent' });
    await waitFor('the preemption to start', async () => (await job(victim)).events.some((e: { reason: string }) => e.reason.startsWith('Preempting:')), 30_000, 100);
    expect((await call('POST', `/api/v1/jobs/${victim}/checkpoint-ack`)).status).toBe(202);
    const v = await finished(victim);
    expect(v.attempts[0]).toMatchObject({ status: 'PREEMPTED', reason: `PREEMPTED: by job ${urgent} (checkpoint acknowledged)` });
    expect((await finished(urgent)).status).toBe('SUCCEEDED');
    expect((await call('POST', `/api/v1/jobs/${urgent}/checkpoint-ack`)).status).toBe(409);
  });

  describe('spot interruptions', () => {
    let metadata: Server;
    let notice: string | null = null;
    const startSpotWorker = async (id: string, extra: Record<string, string> = {}) => {
      cluster.start('worker', {
        JOB_STOP_GRACE_SECONDS: '1', WORKER_ID: id, WORKER_POOL: 'spot', WORKER_VCPUS: '1', WORKER_MEMORY_MIB: '512',
        WORKER_GPUS: '[{"model":"A100","memoryMiB":81920}]', JOB_NETWORK_MODE: 'none', WORKER_JOB_DATA_DIR: jobData, ...extra,
      }, id);
      await waitFor(`${id} to join`, async () => (await call('GET', '/api/v1/workers')).body.workers.some(
        (w: { workerId: string; state: string }) => w.workerId === id && w.state === 'ACTIVE'), 30_000, 100);
    };

    beforeAll(async () => {
      // A stand-in for the instance-metadata service: 404 until a notice is set.
      metadata = createServer((_req, res) => {
        res.statusCode = notice === null ? 404 : 200;
        res.end(notice ?? 'Not Found');
      });
      await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
      expect((await call('POST', '/api/v1/job-queues', { name: 'spot-q', priority: 1, pools: ['spot'] })).status).toBe(201);
    });

    afterAll(async () => {
      await new Promise((resolve) => metadata?.close(resolve));
    });

    it('interrupts every job of a worker told through the API, drains it, and requeues them without using an attempt', async () => {
      await startSpotWorker('spot-w1');
      expect((await call('POST', '/api/v1/workers/spot-w1/interrupt', { deadline: 'soon' })).status).toBe(400);
      expect((await call('POST', '/api/v1/workers/spot-w1/interrupt', { deadline: new Date(Date.now() - 60_000).toISOString() })).status).toBe(400);
      const id = await submit({ name: 'spot-victim', queue: 'spot-q', definition: 'pre-victim' });
      await runningFor(id);
      const res = await call('POST', '/api/v1/workers/spot-w1/interrupt', { deadline: new Date(Date.now() + 60_000).toISOString() });
      expect(res.status).toBe(200);
      expect(res.body.state).toBe('DRAINING');
      const requeued = await waitFor('the job to be requeued', async () => {
        const j = await job(id);
        return j.status === 'RUNNABLE' && j.attempts.length === 1 ? j : undefined;
      }, 60_000, 200);
      expect(requeued.attempts[0]).toMatchObject({
        status: 'INTERRUPTED', workerId: 'spot-w1', reason: 'SPOT_INTERRUPTION: its worker is being reclaimed (checkpoint acknowledged)',
      });
      // Another spot worker picks it up; it resumes from its checkpoint.
      await startSpotWorker('spot-w2', { WORKER_SPOT_NOTICE: 'aws', WORKER_SPOT_NOTICE_URL: `http://127.0.0.1:${(metadata.address() as { port: number }).port}/latest/meta-data/spot/instance-action`, WORKER_SPOT_NOTICE_INTERVAL_MS: '200' });
      const done = await finished(id);
      expect(done.status).toBe('SUCCEEDED');
      expect(done.attempts.map((a: { status: string; workerId: string }) => `${a.status}@${a.workerId}`)).toEqual(['INTERRUPTED@spot-w1', 'SUCCEEDED@spot-w2']);
      expect(await logs(id, 2)).toEqual(['restart 1 resumes from step-7']);
      const usage = (await call('GET', `/api/v1/usage?from=${new Date(Date.now() - 3600_000).toISOString()}`)).body;
      expect(usage.interruptedByPool).toEqual([{ pool: 'spot', attempts: 1, gpuHours: expect.any(Number) }]);
    });

    it('interrupts on the cloud\'s spot notice, polled from the instance metadata', async () => {
      const id = await submit({ name: 'spot-stubborn', queue: 'spot-q', definition: 'pre-stubborn', preemptionGraceSeconds: 300 });
      await runningFor(id);
      notice = JSON.stringify({ action: 'terminate', time: new Date(Date.now() + 4000).toISOString() });
      const requeued = await waitFor('the job to be requeued', async () => {
        const j = await job(id);
        return j.status === 'RUNNABLE' && j.attempts.length === 1 ? j : undefined;
      }, 60_000, 200);
      expect(requeued.attempts[0]).toMatchObject({
        status: 'INTERRUPTED', workerId: 'spot-w2', reason: 'SPOT_INTERRUPTION: its worker is being reclaimed (not acknowledged before the deadline)',
      });
      expect(requeued.preemptionCount).toBe(1);
      await waitFor('spot-w2 to leave', async () => ['DRAINING', 'LEFT'].includes((await call('GET', '/api/v1/workers/spot-w2')).body.state), 30_000, 200);
      expect((await call('POST', `/api/v1/jobs/${id}/cancel`, { reason: 'no spot capacity left' })).status).toBe(200);
    });
  });
});
