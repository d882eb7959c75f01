import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { jest } from '@jest/globals';
import Docker from 'dockerode';
import { pino } from 'pino';
import { effectivePolicy, DEFAULT_POOL_POLICY, type EffectiveContainerPolicy } from '#libs/config';
import type { AttemptExitedEvent, DispatchPayload } from '#libs/queue';
import { ContainerRunner } from '../../apps/worker/src/runner/container-runner.js';
import { dispatchPayload } from '../support/dispatch-payload.js';

jest.setTimeout(60_000);

/**
 * The hardening a job container gets, as Docker reports it (docker inspect)
 * and as the job sees it from inside, on the real engine; and a fork bomb
 * that stays inside its pids limit.
 */
const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
const workerId = `test-harden-${randomUUID()}`;
const runner = new ContainerRunner(docker, { workerId, networkMode: 'none', maxLogBytes: 64 * 1024, pullTimeoutMs: 20_000, stopGraceSeconds: 1 }, pino({ level: 'silent' }));

const strict: EffectiveContainerPolicy = effectivePolicy(
  { ...DEFAULT_POOL_POLICY, pidsLimit: 64, nofileLimit: 1024, logMaxBytes: 2 * 2 ** 20, maxShmMiB: 256, allowRootUser: false, requireReadonlyRootFs: true },
  { memoryMiB: 128, container: { shmSizeMiB: 96, user: '1000:1000' } },
);

async function run(job: DispatchPayload, onRunning?: (containerId: string) => Promise<void>) {
  let inspected: Docker.ContainerInspectInfo | undefined;
  const exited: AttemptExitedEvent = await runner.run(job, {
    onRunning: async (event) => {
      inspected = await docker.getContainer(event.containerId).inspect();
      await onRunning?.(event.containerId);
    },
  });
  return { exited, inspected };
}
const texts = (e: AttemptExitedEvent) => e.logs.map((l) => l.text);

afterEach(async () => {
  for (const c of await docker.listContainers({ all: true, filters: { label: [`gpubatch.worker-id=${workerId}`] } })) {
    await docker.getContainer(c.Id).remove({ force: true });
  }
});

describe('hardened job containers on the real Docker engine', () => {
  it('docker inspect shows the hardening: no capabilities, no new privileges, pids, ulimits, shm, user, read-only root, log cap', async () => {
    const job = dispatchPayload({ resources: { vcpus: 0.25, memoryMiB: 128, gpus: 0 }, container: strict, command: ['sh', '-c', 'sleep 0.3'] });
    const { exited, inspected } = await run(job);
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    const host = inspected!.HostConfig;
    expect(host.Privileged).toBe(false);
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd ?? null).toBeNull();
    expect(host.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(host.PidsLimit).toBe(64);
    expect(host.Ulimits).toEqual([{ Name: 'nofile', Soft: 1024, Hard: 1024 }]);
    expect(host.ShmSize).toBe(96 * 2 ** 20);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.Tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=1g' });
    expect(host.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': String(2 ** 20), 'max-file': '2' } });
    expect(host.NetworkMode).toBe('none');
    expect(host.PidMode).toBe('');
    expect(host.Devices ?? []).toEqual([]);
    expect(host.Init).toBe(true);
    expect(inspected!.Config.User).toBe('1000:1000');
  });

  it('and the job sees it from inside: uid, no effective capabilities, NoNewPrivs, nofile, shm, read-only root with a writable /tmp', async () => {
    const script = [
      'echo uid=$(id -u)',
      'grep -E "^(CapEff|NoNewPrivs):" /proc/self/status | tr -s "\\t " " "',
      'echo nofile=$(ulimit -n)',
      'df -k /dev/shm | tail -1 | awk \'{print "shm=" $2}\'',
      'touch /root-write 2>/dev/null && echo root=writable || echo root=readonly',
      'touch /tmp/x && echo tmp=writable',
    ].join('; ');
    const { exited } = await run(dispatchPayload({ resources: { vcpus: 0.25, memoryMiB: 128, gpus: 0 }, container: strict, command: ['sh', '-c', script] }));
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(texts(exited)).toEqual([
      'uid=1000', 'CapEff: 0000000000000000', 'NoNewPrivs: 1', 'nofile=1024', `shm=${96 * 1024}`, 'root=readonly', 'tmp=writable',
    ]);
  });

  it('a fork bomb stays inside its pids limit; the host is fine and the attempt ends by its timeout', async () => {
    const job = dispatchPayload({
      resources: { vcpus: 0.25, memoryMiB: 128, gpus: 0 }, container: strict, timeoutSeconds: 4,
      command: ['sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 30'],
    });
    const samples: number[] = [];
    let sampling = true;
    const { exited } = await run(job, async (containerId) => {
      // Sample the container's process count while the bomb goes off, without holding up the run.
      void (async () => {
        while (sampling) {
          const stats = await docker.getContainer(containerId).stats({ stream: false }).catch(() => null);
          const current = (stats as { pids_stats?: { current?: number } } | null)?.pids_stats?.current;
          if (typeof current === 'number') samples.push(current);
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
    });
    sampling = false;
    expect(exited.end.kind).toBe('timeout');
    expect(samples.length).toBeGreaterThan(0);
    // It reached its limit (the bomb did go off) and never went past it.
    expect(Math.max(...samples)).toBeGreaterThan(32);
    expect(Math.max(...samples)).toBeLessThanOrEqual(64);
    // The host can still start processes.
    expect(execFileSync('sh', ['-c', 'echo alive']).toString().trim()).toBe('alive');
  });

  it('runs as nobody when the pool forbids root and the definition names no user', async () => {
    const policy = effectivePolicy({ ...DEFAULT_POOL_POLICY, allowRootUser: false }, { memoryMiB: 64, container: {} });
    const { exited } = await run(dispatchPayload({ container: policy, command: ['sh', '-c', 'id -u'] }));
    expect(texts(exited)).toEqual(['65534']);
  });

  it('refuses an image from a registry the pool does not allow, before pulling it', async () => {
    const policy = { ...strict, allowedRegistries: ['registry.example.com'] };
    const { exited, inspected } = await run(dispatchPayload({ container: policy }));
    expect(inspected).toBeUndefined();
    expect(exited.end).toEqual({ kind: 'pull-failed', message: expect.stringMatching(/^registry docker.io of image .* is not allowed in this pool$/) });
  });

  it('delivers secret values into the container, and fails an attempt whose values were already withdrawn', async () => {
    const { exited } = await run(dispatchPayload({
      secretEnvironment: { API_TOKEN: 'tok-123' }, secretNames: ['API_TOKEN'], command: ['sh', '-c', 'test "$API_TOKEN" = tok-123 && echo matched'],
    }));
    expect(texts(exited)).toEqual(['matched']);
    const { exited: again } = await run(dispatchPayload({ secretNames: ['API_TOKEN'] }));
    expect(again.end).toMatchObject({ kind: 'start-failed', message: expect.stringContaining('SecretsUnavailable: the values of API_TOKEN') });
  });
});
