import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadWorkerConfig } from '#libs/config';
import { createLogger } from '#libs/log';
import { simulatedBehaviour } from '../../apps/worker/src/runner/simulated-runner.js';
import { startSimulatedFleet } from '../../apps/worker/src/simulated-fleet.js';
import { schedulerTestbed } from '../support/scheduler-testbed.js';
import { testEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

describe('simulated runner (WORKER_RUNTIME=simulated): the real worker agents, the real scheduler and API', () => {
  const bed = schedulerTestbed();
  const stateDir = path.join(tmpdir(), `gpubatch-sim-test-${process.pid}`);
  let fleet: Awaited<ReturnType<typeof startSimulatedFleet>> | undefined;

  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('is never the default runtime, and reads the duration and exit code from the job', () => {
    expect(loadWorkerConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).runtime).toBe('docker');
    expect(() => loadWorkerConfig({ WORKER_RUNTIME: 'fake' })).toThrow('WORKER_RUNTIME');
    expect(simulatedBehaviour({ command: ['sleep', '1.5'], environment: {} })).toEqual({ durationMs: 1500, exitCode: 0 });
    expect(simulatedBehaviour({ command: ['x'], environment: { SIM_DURATION_MS: '20', SIM_EXIT_CODE: '3' } })).toEqual({ durationMs: 20, exitCode: 3 });
    expect(simulatedBehaviour({ command: ['x'], environment: {} })).toEqual({ durationMs: 0, exitCode: 0 });
  });

  it('runs jobs end to end on many workers of one process: claim, RUNNING, exit, timeout and terminate recorded and billed', async () => {
    const config = loadWorkerConfig({
      REDIS_URL: testEnv().redisUrl, WORKER_RUNTIME: 'simulated', WORKER_ID: 'sim', WORKER_VCPUS: '8', WORKER_MEMORY_MIB: '65536',
      WORKER_GPUS: JSON.stringify(Array.from({ length: 8 }, () => ({ model: 'NVIDIA H100', memoryMiB: 81920 }))),
      WORKER_HEARTBEAT_MS: '200', WORKER_STATE_DIR: stateDir, LOG_LEVEL: 'silent', JOB_STOP_GRACE_SECONDS: '0',
    });
    fleet = await startSimulatedFleet(config, 4, createLogger('sim-test', 'silent'));
    expect(fleet.agents.map((a) => a.descriptor.id)).toEqual(['sim-0', 'sim-1', 'sim-2', 'sim-3']);
    await bed.start();
    const f = await bed.api.fixture({ command: ['sleep', '0.2'], resources: { vcpus: 1, memoryMiB: 1024, gpus: 2 } });
    const batch = await bed.api.post('/api/v1/jobs:batch', { jobs: [
      ...Array.from({ length: 12 }, (_, i) => ({ name: `ok-${i}`, queue: f.queue, definition: f.definition })),
      { name: 'exit-3', queue: f.queue, definition: f.definition, overrides: { environment: { SIM_EXIT_CODE: '3' } } },
      { name: 'too-long', queue: f.queue, definition: f.definition, timeoutSeconds: 1, overrides: { command: ['sleep', '30'] } },
      { name: 'stopped', queue: f.queue, definition: f.definition, overrides: { command: ['sleep', '30'] } },
    ] });
    expect(batch.body.results.filter((r: { error?: unknown }) => r.error)).toEqual([]);
    const ids: string[] = batch.body.results.map((r: { jobId: string }) => r.jobId);
    const stopped = ids[14];
    await waitFor('the long job to run', async () => (await bed.job(stopped)).status === 'RUNNING', 30_000);
    expect((await bed.api.post(`/api/v1/jobs/${stopped}/terminate`, { reason: 'enough' })).status).toBe(200);

    const finished = await waitFor('every job to finish', async () => {
      const all = await Promise.all(ids.map((id) => bed.job(id)));
      return all.every((j) => j.status === 'SUCCEEDED' || j.status === 'FAILED') ? all : undefined;
    }, 60_000);
    for (const j of finished.slice(0, 12)) {
      expect(j.status).toBe('SUCCEEDED');
      const [a] = j.attempts;
      expect(a.workerId).toMatch(/^sim-[0-3]$/);
      expect(a.containerId).toBe(`simulated-${j.jobId}-1`);
      expect(a.gpuDevices).toHaveLength(2);
      expect(Date.parse(a.stoppedAt) - Date.parse(a.startedAt)).toBeGreaterThanOrEqual(200);
    }
    // Twelve 2-GPU jobs on four 8-GPU workers: more than one worker ran them.
    expect(new Set(finished.slice(0, 12).map((j) => j.attempts[0].workerId)).size).toBeGreaterThan(1);
    expect(finished[12]).toMatchObject({ status: 'FAILED', statusReason: 'Essential container exited with code 3' });
    expect(finished[13].status).toBe('FAILED');
    expect(finished[13].attempts[0].reason).toMatch(/timeout|Timeout/);
    expect(finished[14].status).toBe('FAILED');
    expect(finished[14].statusReason).toContain('enough');
    const [billed] = await bed.db.query(`SELECT count(*)::int AS n, count(DISTINCT (job_id, attempt))::int AS distinct_n FROM usage WHERE job_id = ANY($1)`, [ids]);
    expect(billed.n).toBe(15);
    expect(billed.distinct_n).toBe(15);
  });
});
