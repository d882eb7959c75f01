import type { DataSource } from 'typeorm';
import { LocalCluster } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { TEST_ADMIN_KEY, testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

// Bounded by the Docker engine (1.5-5 containers/s on a 2-core machine); the 10,000-child submit itself is benchmarked.
const ARRAY_SIZE = 300;

/**
 * The three built apps as separate processes, a real Docker engine running
 * the job containers: what a user gets from the README.
 */
describe('end to end: api, scheduler and worker processes', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let base: string;
  let call: ApiCall;

  const finished = (id: string) =>
    waitFor(`job ${id} to finish`, async () => {
      const { body } = await call('GET', `/api/v1/jobs/${id}`);
      return ['SUCCEEDED', 'FAILED'].includes(body.status) ? body : undefined;
    }, 60_000, 100);

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    ({ cluster, base, call } = await startCluster());
    cluster.start('worker', {
      JOB_STOP_GRACE_SECONDS: '2',
      WORKER_ID: 'e2e-worker', WORKER_POOL: 'e2e', WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024',
      WORKER_GPUS: '[{"model":"A100","memoryMiB":81920},{"model":"A100","memoryMiB":81920}]', JOB_NETWORK_MODE: 'none',
    });
    await waitFor('the worker to join', async () => (await call('GET', '/api/v1/workers?limit=1000')).body.workers.some(
      (w: { workerId: string; state: string }) => w.workerId === 'e2e-worker' && w.state === 'ACTIVE'), 30_000, 100);
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    await db.destroy();
  });

  it('runs jobs that succeed, fail and print, records attempts, logs and usage, and serves Swagger', async () => {
    expect((await call('POST', '/api/v1/job-queues', { name: 'e2e', priority: 10, pools: ['e2e'] })).status).toBe(201);
    const def = await call('POST', '/api/v1/job-definitions', {
      name: 'e2e-shell', image: testEnv().testImage,
      command: ['sh', '-c', 'echo "to stdout $GPUBATCH_JOB_ID"; echo "to stderr" >&2; echo "gpus=$NVIDIA_VISIBLE_DEVICES"; exit Ref::code'],
      parameters: { code: '0' }, resources: { vcpus: 0.5, memoryMiB: 64, gpus: 1 },
    });
    expect(def.status).toBe(201);

    const ok = (await call('POST', '/api/v1/jobs', { name: 'ok', queue: 'e2e', definition: 'e2e-shell' })).body.jobId;
    const fails = (await call('POST', '/api/v1/jobs', { name: 'fails', queue: 'e2e', definition: 'e2e-shell', parameters: { code: '3' } })).body.jobId;
    const missing = (await call('POST', '/api/v1/jobs', {
      name: 'no-image', queue: 'e2e', definition: 'e2e-shell', overrides: { resources: { gpus: 0 } },
    })).body.jobId;

    const [okJob, failedJob] = await Promise.all([finished(ok), finished(fails)]);
    expect(okJob).toMatchObject({ status: 'SUCCEEDED', statusReason: 'Essential container exited with code 0' });
    expect(okJob.events.map((e: { to: string }) => e.to)).toEqual(['SUBMITTED', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED']);
    expect(failedJob).toMatchObject({ status: 'FAILED', statusReason: 'Essential container exited with code 3' });

    for (const job of [okJob, failedJob]) {
      const [attempt] = job.attempts;
      expect(attempt).toMatchObject({ attempt: 1, workerId: 'e2e-worker', pool: 'e2e', containerId: expect.any(String) });
      expect(attempt.gpuDevices).toHaveLength(1);
      expect(Date.parse(attempt.stoppedAt)).toBeGreaterThanOrEqual(Date.parse(attempt.startedAt));
    }
    expect(okJob.attempts[0].exitCode).toBe(0);
    expect(failedJob.attempts[0].exitCode).toBe(3);

    const logs = (await call('GET', `/api/v1/jobs/${ok}/logs`)).body;
    expect(logs.attempt).toBe(1);
    const byStream = (s: string) => logs.lines.filter((l: { stream: string }) => l.stream === s).map((l: { text: string }) => l.text);
    expect(byStream('stdout')).toEqual([`to stdout ${ok}`, `gpus=${okJob.attempts[0].gpuDevices[0]}`]);
    expect(byStream('stderr')).toEqual(['to stderr']);

    const usage = await db.query(
      `SELECT u.job_id, u.attempt, u.worker_id, u.pool, u.vcpus, u.memory_mib, u.gpus, u.billed_seconds,
              u.started_at = a.started_at AS same_start, u.stopped_at = a.stopped_at AS same_stop
       FROM usage u JOIN job_attempts a USING (job_id, attempt) WHERE u.job_id = ANY($1) ORDER BY u.job_id`,
      [[ok, fails]],
    );
    expect(usage).toHaveLength(2);
    for (const row of usage) {
      expect(row).toMatchObject({ attempt: 1, worker_id: 'e2e-worker', pool: 'e2e', vcpus: '0.500', memory_mib: 64, gpus: 1, same_start: true, same_stop: true });
      expect(row.billed_seconds).toBeGreaterThanOrEqual(0);
      expect(row.billed_seconds).toBeLessThanOrEqual(2);
    }

    // An image that cannot be pulled (no registry here) fails with a reason instead of hanging.
    await call('POST', '/api/v1/job-definitions', {
      name: 'e2e-missing', image: 'gpubatch-no-such-image:1', command: ['true'], resources: { vcpus: 0.5, memoryMiB: 64 },
    });
    const pull = (await call('POST', '/api/v1/jobs', { name: 'pull', queue: 'e2e', definition: 'e2e-missing' })).body.jobId;
    const pullJob = await finished(pull);
    expect(pullJob.status).toBe('FAILED');
    expect(pullJob.statusReason).toMatch(/^CannotPullContainerError: /);
    expect(await db.query(`SELECT * FROM usage WHERE job_id = $1`, [pull])).toEqual([]);
    expect((await finished(missing)).status).toBe('SUCCEEDED');

    const workers = (await call('GET', '/api/v1/workers?limit=1000')).body.workers;
    expect(workers).toEqual([expect.objectContaining({
      workerId: 'e2e-worker', pool: 'e2e', capacity: { vcpus: 2, memoryMiB: 1024, gpus: 2 }, allocated: { vcpus: 0, memoryMiB: 0, gpus: 0 },
    })]);

    // Swagger needs credentials like every route (test/e2e/docs.test.ts has the rest).
    expect((await fetch(`${base}/docs`)).status).toBe(401);
    const docs = await fetch(`${base}/docs`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });

  it('gives concurrent GPU jobs on one worker disjoint devices, through Docker device requests', async () => {
    await call('POST', '/api/v1/job-definitions', {
      name: 'e2e-gpu', image: testEnv().testImage, command: ['sh', '-c', 'sleep 1; echo "devices=$NVIDIA_VISIBLE_DEVICES"'],
      resources: { vcpus: 0.5, memoryMiB: 64, gpus: 1, gpuModel: 'A100' },
    });
    const ids = await Promise.all([1, 2].map(async (i) => (await call('POST', '/api/v1/jobs', { name: `gpu-${i}`, queue: 'e2e', definition: 'e2e-gpu' })).body.jobId));
    const jobs = await Promise.all(ids.map(finished));
    expect(jobs.map((j) => j.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const [a, b] = jobs.map((j) => j.attempts[0]);
    // They ran at the same time...
    expect(Date.parse(a.startedAt)).toBeLessThan(Date.parse(b.stoppedAt));
    expect(Date.parse(b.startedAt)).toBeLessThan(Date.parse(a.stoppedAt));
    // ...on different GPUs, and each container saw exactly its own.
    expect([...a.gpuDevices, ...b.gpuDevices].sort()).toEqual([0, 1]);
    for (const [i, id] of ids.entries()) {
      const lines = (await call('GET', `/api/v1/jobs/${id}/logs`)).body.lines.map((l: { text: string }) => l.text);
      expect(lines).toEqual([`devices=${jobs[i].attempts[0].gpuDevices.join(',')}`]);
    }
  });

  it('stops a job at its timeout without retrying it, and terminates a running job, freeing its GPU', async () => {
    await call('POST', '/api/v1/job-definitions', {
      name: 'e2e-sleeper', image: testEnv().testImage, command: ['sh', '-c', 'trap "echo stopping; exit 7" TERM; sleep 30 & wait'],
      resources: { vcpus: 0.5, memoryMiB: 64, gpus: 2 }, retryStrategy: { attempts: 2 },
    });
    const timed = (await call('POST', '/api/v1/jobs', { name: 'timed', queue: 'e2e', definition: 'e2e-sleeper', timeoutSeconds: 1 })).body.jobId;
    const timedOut = await finished(timed);
    expect(timedOut).toMatchObject({ status: 'FAILED', statusReason: 'Job attempt duration exceeded timeout' });
    expect(timedOut.attempts).toHaveLength(1); // a timeout is not retried
    expect(timedOut.attempts[0].exitCode).toBe(7); // it got SIGTERM first
    expect((await call('GET', `/api/v1/jobs/${timed}/logs`)).body.lines.map((l: { text: string }) => l.text)).toEqual(['stopping']);

    // Both GPUs held by a running job; a second 2-GPU job waits until terminate frees them.
    const victim = (await call('POST', '/api/v1/jobs', { name: 'victim', queue: 'e2e', definition: 'e2e-sleeper' })).body.jobId;
    await waitFor('RUNNING', async () => (await call('GET', `/api/v1/jobs/${victim}`)).body.status === 'RUNNING', 30_000, 100);
    const next = (await call('POST', '/api/v1/jobs', { name: 'next', queue: 'e2e', definition: 'e2e-shell', overrides: { resources: { gpus: 2 } } })).body.jobId;
    expect((await call('POST', `/api/v1/jobs/${victim}/terminate`, { reason: 'Operator stop' })).body).toEqual({ jobId: victim, status: 'RUNNING', stopping: true });
    const stopped = await finished(victim);
    expect(stopped).toMatchObject({ status: 'FAILED', statusReason: 'Operator stop' });
    expect(stopped.attempts).toHaveLength(1);
    expect((await finished(next)).status).toBe('SUCCEEDED');
  });

  it('retries by an exit-code rule and succeeds on attempt 2, which the container sees', async () => {
    await call('POST', '/api/v1/job-definitions', {
      name: 'e2e-flaky', image: testEnv().testImage, command: ['sh', '-c', 'echo "attempt $GPUBATCH_JOB_ATTEMPT"; [ "$GPUBATCH_JOB_ATTEMPT" = 2 ] || exit 3'],
      resources: { vcpus: 0.5, memoryMiB: 64 },
      retryStrategy: { attempts: 3, evaluateOnExit: [{ onExitCode: '3', action: 'RETRY' }, { onExitCode: '*', action: 'EXIT' }] },
    });
    const id = (await call('POST', '/api/v1/jobs', { name: 'flaky', queue: 'e2e', definition: 'e2e-flaky' })).body.jobId;
    const done = await finished(id);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.attempts.map((a: { exitCode: number }) => a.exitCode)).toEqual([3, 0]);
    expect((await call('GET', `/api/v1/jobs/${id}/logs?attempt=1`)).body.lines.map((l: { text: string }) => l.text)).toEqual(['attempt 1']);
    expect((await call('GET', `/api/v1/jobs/${id}/logs`)).body.lines.map((l: { text: string }) => l.text)).toEqual(['attempt 2']);
  });

  it('runs a 300-child array on one small worker, each child with its own index', async () => {
    await call('POST', '/api/v1/job-definitions', {
      name: 'e2e-array', image: testEnv().testImage, command: ['sh', '-c', 'echo "index=$GPUBATCH_ARRAY_INDEX"'],
      resources: { vcpus: 0.1, memoryMiB: 16 },
    });
    const parent = (await call('POST', '/api/v1/jobs', { name: 'array', queue: 'e2e', definition: 'e2e-array', array: { size: ARRAY_SIZE } })).body.jobId;
    const done = await waitFor('the array to finish', async () => {
      const { body } = await call('GET', `/api/v1/jobs/${parent}`);
      return ['SUCCEEDED', 'FAILED'].includes(body.status) ? body : undefined;
    }, 600_000, 1000);
    expect(done).toMatchObject({ status: 'SUCCEEDED', arrayProperties: { size: ARRAY_SIZE, statusSummary: { SUCCEEDED: ARRAY_SIZE } } });
    const logged = await db.query(
      `SELECT j.array_index, l.text FROM jobs j JOIN job_logs l ON l.job_id = j.id WHERE j.parent_id = $1 ORDER BY j.array_index`, [parent],
    );
    expect(logged).toHaveLength(ARRAY_SIZE);
    expect(logged.every((r: { array_index: number; text: string }) => r.text === `index=${r.array_index}`)).toBe(true);
  }, 900_000);

  it('every process exits 0 on SIGTERM', async () => {
    expect(await cluster.stop()).toEqual({ worker: 0, scheduler: 0, api: 0 });
  });
});
