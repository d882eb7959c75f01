import { execFileSync } from 'node:child_process';
import type { DataSource } from 'typeorm';
import { LocalCluster, type ClusterProcess } from '../../scripts/lib/local-cluster.js';
import { openTestDatabase } from '../support/database.js';
import { startCluster, type ApiCall } from '../support/e2e-cluster.js';
import { resetState } from '../support/reset.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The job lifecycle through the three built apps and real containers: a
 * worker killed mid-job, out-of-memory kills, dependencies between arrays,
 * failed dependencies and cron schedules.
 */
describe('end to end: job lifecycle', () => {
  let db: DataSource;
  let cluster: LocalCluster;
  let call: ApiCall;
  const workers = new Map<string, ClusterProcess>();

  const submit = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/api/v1/jobs', body);
    expect(res.status).toBe(201);
    return res.body.jobId as string;
  };
  const finished = (id: string, timeoutMs = 60_000) =>
    waitFor(`job ${id} to finish`, async () => {
      const { body } = await call('GET', `/api/v1/jobs/${id}`);
      return ['SUCCEEDED', 'FAILED'].includes(body.status) ? body : undefined;
    }, timeoutMs, 200);
  const startWorker = async (id: string, pool: string) => {
    workers.set(id, cluster.start('worker', {
      WORKER_ID: id, WORKER_POOL: pool, WORKER_VCPUS: '2', WORKER_MEMORY_MIB: '1024', WORKER_GPUS: 'none',
      JOB_NETWORK_MODE: 'none', JOB_STOP_GRACE_SECONDS: '1', WORKER_HEARTBEAT_MS: '500',
    }, id));
    await waitFor(`${id} to join`, async () => (await call('GET', `/api/v1/workers/${id}`)).body?.state === 'ACTIVE', 30_000, 100);
  };
  const define = (name: string, command: string[], extra: Record<string, unknown> = {}) =>
    call('POST', '/api/v1/job-definitions', { name, image: testEnv().testImage, command, resources: { vcpus: 0.25, memoryMiB: 64 }, ...extra });

  beforeAll(async () => {
    db = await openTestDatabase();
    await resetState(db);
    // Its schedule fires every second, under the 60 s minimum a deployment keeps.
    ({ cluster, call } = await startCluster({ WORKER_HEARTBEAT_TIMEOUT_MS: '3000' }, { SCHEDULE_MIN_INTERVAL_SECONDS: '1' }));
    await startWorker('life-main', 'life');
    expect((await call('POST', '/api/v1/job-queues', { name: 'life', priority: 1, pools: ['life'] })).status).toBe(201);
    expect((await call('POST', '/api/v1/job-queues', { name: 'doomed', priority: 1, pools: ['doomed'] })).status).toBe(201);
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    // The killed worker's container outlives it; it is not ours to leave behind.
    const left = execFileSync('docker', ['ps', '-aq', '--filter', 'label=gpubatch.worker-id=life-doomed']).toString().split('\n').filter(Boolean);
    if (left.length) execFileSync('docker', ['rm', '-f', ...left]);
    await db.destroy();
  });

  it('retries on another worker the job of a worker killed with SIGKILL', async () => {
    await startWorker('life-doomed', 'doomed');
    await define('life-survivor', ['sh', '-c', 'if [ "$GPUBATCH_JOB_ATTEMPT" = 1 ]; then sleep 60; fi; echo "attempt $GPUBATCH_JOB_ATTEMPT"'], {
      retryStrategy: { attempts: 2 },
    });
    const id = await submit({ name: 'survivor', queue: 'doomed', definition: 'life-survivor' });
    await waitFor('RUNNING on the doomed worker', async () => (await call('GET', `/api/v1/jobs/${id}`)).body.status === 'RUNNING', 30_000, 200);
    await startWorker('life-rescuer', 'doomed');
    workers.get('life-doomed')!.child.kill('SIGKILL');

    const done = await finished(id, 60_000);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.attempts.map((a: { workerId: string; reason: string }) => [a.workerId, a.reason])).toEqual([
      ['life-doomed', 'Worker lost: life-doomed'],
      ['life-rescuer', 'Essential container exited with code 0'],
    ]);
    expect((await call('GET', '/api/v1/workers/life-doomed')).body.state).toBe('LOST');

    // The killed worker's container still runs; when the worker comes back it must stop it, not report it.
    const running = () => execFileSync('docker', ['ps', '-q', '--filter', `name=gpubatch-${id}-1`]).toString().trim();
    expect(running()).not.toBe('');
    await startWorker('life-doomed', 'doomed');
    await waitFor('the leftover container to be stopped', () => running() === '', 30_000, 250);
    expect((await call('GET', `/api/v1/jobs/${id}`)).body.attempts).toHaveLength(2);
  });

  it('fails a container that goes over its memory limit with OutOfMemoryError', async () => {
    await define('life-hog', ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'], { resources: { vcpus: 0.25, memoryMiB: 16 } });
    const done = await finished(await submit({ name: 'hog', queue: 'life', definition: 'life-hog' }));
    expect(done).toMatchObject({ status: 'FAILED', statusReason: 'OutOfMemoryError: Container killed due to memory usage' });
    expect(done.attempts[0].exitCode).toBe(137);
  });

  it('chains arrays N_TO_N and fails what depends on a failed job', async () => {
    await define('life-index', ['sh', '-c', 'echo "i=$GPUBATCH_ARRAY_INDEX"; [ "$GPUBATCH_ARRAY_INDEX" != 2 ]']);
    const first = await submit({ name: 'first', queue: 'life', definition: 'life-index', array: { size: 3 } });
    const second = await submit({ name: 'second', queue: 'life', definition: 'life-index', array: { size: 3 }, dependsOn: [{ jobId: first, type: 'N_TO_N' }] });
    const after = await submit({ name: 'after', queue: 'life', definition: 'life-index', dependsOn: [{ jobId: first }] });
    const [a, b, c] = await Promise.all([finished(first), finished(second), finished(after)]);
    expect(a).toMatchObject({ status: 'FAILED', statusReason: '1 of 3 children failed' });
    expect(b).toMatchObject({ status: 'FAILED', statusReason: '1 of 3 children failed' });
    expect(c).toMatchObject({ status: 'FAILED', statusReason: `Dependent job ${first} failed` });
    for (const i of [0, 1]) {
      const [x, y] = await Promise.all([call('GET', `/api/v1/jobs/${first}:${i}`), call('GET', `/api/v1/jobs/${second}:${i}`)]);
      expect([x.body.status, y.body.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      // Child i of the second array started only after child i of the first had stopped.
      expect(Date.parse(y.body.attempts[0].startedAt)).toBeGreaterThanOrEqual(Date.parse(x.body.attempts[0].stoppedAt));
    }
    expect((await call('GET', `/api/v1/jobs/${second}:2`)).body.statusReason).toBe(`Dependent job ${first}:2 failed`);
  });

  it('submits a job at every tick of a cron schedule, and stops when paused', async () => {
    await define('life-tick', ['true']);
    const created = await call('POST', '/api/v1/schedules', {
      name: 'every-second', cron: '* * * * * *', submit: { name: 'tick', queue: 'life', definition: 'life-tick' },
    });
    expect(created.status).toBe(201);
    const ticked = await waitFor('two tagged jobs', async () => {
      const rows: { id: string }[] = await db.query(`SELECT id FROM jobs WHERE tags->>'gpubatch:schedule' = 'every-second'`);
      return rows.length >= 2 ? rows : undefined;
    }, 30_000, 200);
    expect((await finished(ticked[0].id)).status).toBe('SUCCEEDED');
    expect((await call('POST', '/api/v1/schedules/every-second/pause')).status).toBe(200);
    const [{ count: atPause }] = await db.query(`SELECT count(*)::int AS count FROM jobs WHERE tags->>'gpubatch:schedule' = 'every-second'`);
    await new Promise((r) => setTimeout(r, 2500));
    const [{ count: later }] = await db.query(`SELECT count(*)::int AS count FROM jobs WHERE tags->>'gpubatch:schedule' = 'every-second'`);
    expect(later - atPause).toBeLessThanOrEqual(1); // a tick already in flight at the pause may still land
    expect((await call('DELETE', '/api/v1/schedules/every-second')).status).toBe(204);
  });
});
