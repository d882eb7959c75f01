import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { jest } from '@jest/globals';
import Docker from 'dockerode';
import { pino } from 'pino';
import { defaultEffectivePolicy } from '#libs/config';
import type { AttemptExitedEvent, AttemptRunningEvent, DispatchPayload } from '#libs/queue';
import { ContainerRunner, type RunnerOptions } from '../../apps/worker/src/runner/container-runner.js';
import { containerName } from '../../apps/worker/src/runner/container-spec.js';
import { dispatchPayload } from '../support/dispatch-payload.js';

jest.setTimeout(30_000);

const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
const logger = pino({ level: 'silent' });
const workerId = `test-${randomUUID()}`;

function runner(over: Partial<RunnerOptions> = {}): ContainerRunner {
  return new ContainerRunner(docker, { workerId, networkMode: 'none', maxLogBytes: 64 * 1024, pullTimeoutMs: 20_000, stopGraceSeconds: 1, ...over }, logger);
}

const payload = (over: Partial<DispatchPayload> = {}) => dispatchPayload({ jobName: 'runner-test', ...over });

/** Runs an attempt, keeping the running report and, if asked, what Docker says of the live container. */
async function run(
  job: DispatchPayload,
  options: { runner?: ContainerRunner; inspect?: boolean; signal?: AbortSignal; onRunning?: (event: AttemptRunningEvent) => Promise<void> } = {},
) {
  const running: AttemptRunningEvent[] = [];
  let inspected: Docker.ContainerInspectInfo | undefined;
  const exited: AttemptExitedEvent = await (options.runner ?? runner()).run(job, {
    onRunning: async (event) => {
      running.push(event);
      if (options.inspect) inspected = await docker.getContainer(event.containerId).inspect();
      await options.onRunning?.(event);
    },
    signal: options.signal,
  });
  return { running, exited, inspected };
}

/** Milliseconds from the container's start to its stop, as reported. */
const ranFor = (exited: AttemptExitedEvent) => Date.parse(exited.stoppedAt) - Date.parse(exited.startedAt!);

const texts = (exited: AttemptExitedEvent, stream?: 'stdout' | 'stderr') =>
  exited.logs.filter((l) => !stream || l.stream === stream).map((l) => l.text);

async function containersOfThisWorker(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`gpubatch.worker-id=${workerId}`] } });
}

afterEach(async () => {
  // Belt and braces: the runner removes its containers; a failing test must not leave any either.
  for (const c of await containersOfThisWorker()) await docker.getContainer(c.Id).remove({ force: true });
});

describe('ContainerRunner on the real Docker engine', () => {
  it('reports exit code 0 with the container real start and stop times, and removes it', async () => {
    const before = Date.now();
    const { running, exited } = await run(payload({ command: ['sh', '-c', 'sleep 0.2; exit 0'] }));
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(running).toHaveLength(1);
    expect(running[0]).toMatchObject({ type: 'attempt-running', workerId, containerId: exited.containerId });
    expect(exited.startedAt).toBe(running[0].startedAt);
    const start = Date.parse(exited.startedAt!);
    const stop = Date.parse(exited.stoppedAt);
    expect(start).toBeGreaterThanOrEqual(before - 1000);
    expect(stop).toBeGreaterThanOrEqual(start + 150);
    expect(stop).toBeLessThanOrEqual(Date.now() + 1000);
    await expect(docker.getContainer(exited.containerId!).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('reports a non-zero exit code', async () => {
    const { exited } = await run(payload({ command: ['sh', '-c', 'exit 3'] }));
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 3, oomKilled: false });
    expect(exited.startedAt).not.toBeNull();
  });

  it('captures stdout and stderr lines in order, each with its stream and time', async () => {
    const script = 'echo out-1; echo out-2; sleep 0.1; echo err-1 >&2; sleep 0.1; echo out-3; printf "last"';
    const { exited } = await run(payload({ command: ['sh', '-c', script] }));
    expect(exited.logs.map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'out-1'],
      ['stdout', 'out-2'],
      ['stderr', 'err-1'],
      ['stdout', 'out-3'],
      ['stdout', 'last'],
    ]);
    for (const line of exited.logs) {
      expect(Date.parse(line.at)).toBeGreaterThanOrEqual(Date.parse(exited.startedAt!) - 1000);
      expect(Date.parse(line.at)).toBeLessThanOrEqual(Date.parse(exited.stoppedAt) + 1000);
    }
    expect(exited.logsTruncated).toBe(false);
  });

  it('gives the container its GPUBATCH_ variables and the job environment', async () => {
    const job = payload({ attempt: 4, environment: { GREETING: 'hello world' }, command: ['env'] });
    const { exited } = await run(job);
    expect(texts(exited, 'stdout')).toEqual(expect.arrayContaining([
      `GPUBATCH_JOB_ID=${job.jobId}`,
      'GPUBATCH_JOB_NAME=runner-test',
      'GPUBATCH_JOB_ATTEMPT=4',
      'GPUBATCH_JOB_QUEUE=test-queue',
      'GREETING=hello world',
    ]));
  });

  it('runs the image default command when the command is empty', async () => {
    const { exited } = await run(payload({ command: [] }));
    // The test image's CMD is /bin/sh, which exits 0 at once without a terminal.
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
  });

  it('hands a GPU job exactly its devices, as a device request and NVIDIA_VISIBLE_DEVICES', async () => {
    const job = payload({ gpuDevices: [0, 2], resources: { vcpus: 1, memoryMiB: 64, gpus: 2 }, command: ['sh', '-c', 'echo "gpus=$NVIDIA_VISIBLE_DEVICES"'] });
    const { exited, inspected } = await run(job, { inspect: true });
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(texts(exited, 'stdout')).toEqual(['gpus=0,2']);
    expect(inspected!.HostConfig.DeviceRequests).toEqual([
      expect.objectContaining({ Driver: 'nvidia', DeviceIDs: ['0', '2'], Capabilities: [['gpu']] }),
    ]);
  });

  it('applies the memory and CPU limits, no extra swap, labels and the network mode', async () => {
    const job = payload({ resources: { vcpus: 0.25, memoryMiB: 48, gpus: 0 } });
    const { inspected } = await run(job, { inspect: true });
    expect(inspected!.Name).toBe(`/${containerName(job.jobId, 1)}`);
    expect(inspected!.HostConfig.Memory).toBe(48 * 2 ** 20);
    expect(inspected!.HostConfig.MemorySwap).toBe(48 * 2 ** 20);
    expect(inspected!.HostConfig.NanoCpus).toBe(250_000_000);
    expect(inspected!.HostConfig.NetworkMode).toBe('none');
    expect(inspected!.Config.Labels).toMatchObject({ 'gpubatch.job-id': job.jobId, 'gpubatch.attempt': '1', 'gpubatch.worker-id': workerId });
  });

  it('reports an OOM kill when the container outgrows its memory limit', async () => {
    const job = payload({ resources: { vcpus: 1, memoryMiB: 8, gpus: 0 }, command: ['sh', '-c', 'head -c 64m /dev/zero | tail -c 48m >/dev/null'] });
    const { exited } = await run(job);
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 137, oomKilled: true });
  });

  it('pulls before every attempt with the always pull policy, and only when missing with if-not-present (the default)', async () => {
    // The test image exists only on this engine: no registry has it, so pulling it must fail.
    const local = payload({ command: ['true'] });
    const container = { ...defaultEffectivePolicy(local.resources.memoryMiB), pullPolicy: 'always' as const };
    const always = await run({ ...local, container });
    expect(always.exited.end).toMatchObject({ kind: 'pull-failed', message: expect.stringMatching(/^(network|not found|auth) \(/) });
    expect(always.running).toEqual([]);
    const ifNotPresent = await run({ ...payload({ command: ['true'] }), container: { ...container, pullPolicy: 'if-not-present' } });
    expect(ifNotPresent.exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
  });

  it('fails fast with pull-failed for an image that exists nowhere, creating no container', async () => {
    const job = payload({ image: 'gpubatch-missing-image:nope' });
    const started = Date.now();
    const { running, exited } = await run(job);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(exited.end.kind).toBe('pull-failed');
    expect((exited.end as { message: string }).message.length).toBeGreaterThan(0);
    expect(exited).toMatchObject({ containerId: null, startedAt: null, logs: [], logsTruncated: false });
    expect(running).toEqual([]);
    await expect(docker.getContainer(containerName(job.jobId, 1)).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('gives up on a registry that stalls once the pull timeout passes', async () => {
    // A "registry" that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const registry = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    const { port } = registry.address() as AddressInfo;
    try {
      const started = Date.now();
      const { exited } = await run(payload({ image: `127.0.0.1:${port}/stalled:1` }), { runner: runner({ pullTimeoutMs: 1500 }) });
      expect(exited.end).toEqual({ kind: 'pull-failed', message: `network (the registry could not be reached): pulling 127.0.0.1:${port}/stalled:1 did not finish within 1500 ms` });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
      expect(Date.now() - started).toBeLessThan(6_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => registry.close(resolve));
    }
  });

  it('reports start-failed when the command cannot be executed, and removes the container', async () => {
    const job = payload({ command: ['/no/such/binary'] });
    const { running, exited } = await run(job);
    // Docker's init starts, then fails to exec the command: the container did run (briefly), so RUNNING was reported.
    expect(exited.end).toEqual({ kind: 'start-failed', message: 'exec /no/such/binary failed: No such file or directory' });
    expect(running).toHaveLength(1);
    expect(exited.startedAt).toBe(running[0].startedAt);
    expect(await containersOfThisWorker()).toEqual([]);
  });

  it('replaces a container left by an earlier claim of the same attempt', async () => {
    const job = payload({ command: ['sh', '-c', 'echo second claim'] });
    const stale = await docker.createContainer({ name: containerName(job.jobId, 1), Image: job.image, Cmd: ['sleep', '60'], Labels: { 'gpubatch.worker-id': workerId } });
    await stale.start();
    const { exited } = await run(job);
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(texts(exited)).toEqual(['second claim']);
    expect(exited.containerId).not.toBe(stale.id);
    await expect(stale.inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('keeps a line longer than Docker\'s 16 KiB log buffer whole', async () => {
    const { exited } = await run(payload({ command: ['sh', '-c', "head -c 40000 /dev/zero | tr '\\0' x; echo; echo next"] }));
    expect(exited.logs.map((l) => l.text.length)).toEqual([40000, 4]);
    expect(exited.logs[0].text).toBe('x'.repeat(40000));
  });

  it('caps the output at maxLogBytes with a marker line', async () => {
    const capped = runner({ maxLogBytes: 1024 });
    // 200 lines of 50 bytes: ~10 KB written, 1 KB kept.
    const script = 'i=0; while [ $i -lt 200 ]; do echo "$(printf %049d $i)"; i=$((i+1)); done';
    const { exited } = await run(payload({ command: ['sh', '-c', script] }), { runner: capped });
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 0, oomKilled: false });
    expect(exited.logsTruncated).toBe(true);
    const last = exited.logs[exited.logs.length - 1];
    expect(last).toMatchObject({ stream: 'stderr', text: '[gpubatch] output truncated at 1024 bytes' });
    const kept = exited.logs.slice(0, -1);
    expect(kept.length).toBe(20);
    expect(kept[0].text).toBe('0'.repeat(49));
    expect(kept.reduce((sum, l) => sum + Buffer.byteLength(l.text) + 1, 0)).toBeLessThanOrEqual(1024);
  });
});

describe('ContainerRunner timeouts on the real Docker engine', () => {
  it('stops a container that outlives its timeout and ends the attempt timeout', async () => {
    const started = Date.now();
    const { running, exited } = await run(payload({ timeoutSeconds: 1, command: ['sleep', '30'] }), { runner: runner({ stopGraceSeconds: 1 }) });
    expect(Date.now() - started).toBeLessThan(8_000);
    // Docker's init is PID 1 and passes SIGTERM on to `sleep`, which dies of it (128 + 15) without waiting out the grace.
    expect(exited.end).toEqual({ kind: 'timeout', timeoutSeconds: 1, exitCode: 143 });
    expect(exited.startedAt).toBe(running[0].startedAt);
    expect(ranFor(exited)).toBeGreaterThanOrEqual(1000 - 50);
    expect(ranFor(exited)).toBeLessThan(1000 + 1500);
    await expect(docker.getContainer(exited.containerId!).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('stops a container at its timeout even while its running report cannot be delivered (Redis cut off)', async () => {
    // The report hangs until the container is gone, as an add to an unreachable Redis would:
    // the runner must arm the timeout without waiting for it, and still hand it over before the exit.
    let reportDelivered = false;
    const { exited } = await run(payload({ timeoutSeconds: 1, command: ['sleep', '20'] }), {
      runner: runner({ stopGraceSeconds: 1 }),
      onRunning: async (event) => {
        const container = docker.getContainer(event.containerId);
        while ((await container.inspect()).State.Running) await new Promise((r) => setTimeout(r, 100));
        reportDelivered = true;
      },
    });
    expect(exited.end).toEqual({ kind: 'timeout', timeoutSeconds: 1, exitCode: 143 });
    expect(reportDelivered).toBe(true);
  });

  it('stops a terminated container even while its running report cannot be delivered', async () => {
    const abort = new AbortController();
    const { exited } = await run(payload({ timeoutSeconds: 60, command: ['sleep', '20'] }), {
      signal: abort.signal,
      onRunning: async (event) => {
        abort.abort('operator');
        const container = docker.getContainer(event.containerId);
        while ((await container.inspect()).State.Running) await new Promise((r) => setTimeout(r, 100));
      },
    });
    expect(exited.end).toEqual({ kind: 'terminated', reason: 'operator', exitCode: 143 });
  });

  it('sends SIGTERM first, at the deadline: a container that handles it exits with its own code and output', async () => {
    const job = payload({ timeoutSeconds: 1, command: ['sh', '-c', 'trap "echo got TERM; exit 7" TERM; echo started; sleep 30 & wait'] });
    const started = Date.now();
    // A long grace: the exit must come from SIGTERM, not from the SIGKILL after it.
    const { exited } = await run(job, { runner: runner({ stopGraceSeconds: 20 }) });
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(exited.end).toEqual({ kind: 'timeout', timeoutSeconds: 1, exitCode: 7 });
    expect(texts(exited, 'stdout')).toEqual(['started', 'got TERM']);
    // Stopped about a second after it started: not before the deadline.
    expect(ranFor(exited)).toBeGreaterThanOrEqual(950);
    expect(ranFor(exited)).toBeLessThan(2500);
  });

  it('SIGKILLs a container that ignores SIGTERM once the grace period is over', async () => {
    const job = payload({ timeoutSeconds: 1, command: ['sh', '-c', 'trap "" TERM; echo ignoring; sleep 30 & wait'] });
    const { exited } = await run(job, { runner: runner({ stopGraceSeconds: 2 }) });
    expect(exited.end).toEqual({ kind: 'timeout', timeoutSeconds: 1, exitCode: 137 });
    expect(texts(exited)).toEqual(['ignoring']);
    expect(ranFor(exited)).toBeGreaterThanOrEqual(1000 + 2000 - 50);
    expect(ranFor(exited)).toBeLessThan(1000 + 2000 + 1500);
  });

  it('lets a container that exits before its timeout end as exited', async () => {
    const started = Date.now();
    const { exited } = await run(payload({ timeoutSeconds: 5, command: ['sh', '-c', 'sleep 0.2; echo done; exit 4'] }));
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 4, oomKilled: false });
    expect(texts(exited)).toEqual(['done']);
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});

describe('ContainerRunner terminate (abort signal) on the real Docker engine', () => {
  it('stops a running container, SIGTERM first, and ends the attempt terminated with the reason', async () => {
    const abort = new AbortController();
    const job = payload({ timeoutSeconds: 60, command: ['sh', '-c', 'trap "echo got TERM; exit 7" TERM; sleep 30 & wait'] });
    const { running, exited } = await run(job, {
      runner: runner({ stopGraceSeconds: 20 }),
      signal: abort.signal,
      onRunning: async () => {
        setTimeout(() => abort.abort('wrong input data'), 300);
      },
    });
    expect(running).toHaveLength(1);
    expect(exited.end).toEqual({ kind: 'terminated', reason: 'wrong input data', exitCode: 7 });
    expect(texts(exited)).toEqual(['got TERM']);
    expect(ranFor(exited)).toBeLessThan(3_000);
    await expect(docker.getContainer(exited.containerId!).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('SIGKILLs a terminated container after the grace when SIGTERM does not end it', async () => {
    const abort = new AbortController();
    const { exited } = await run(payload({ command: ['sh', '-c', 'trap "" TERM; sleep 30 & wait'] }), {
      signal: abort.signal,
      onRunning: async () => {
        abort.abort('operator');
      },
    });
    expect(exited.end).toEqual({ kind: 'terminated', reason: 'operator', exitCode: 137 });
    expect(ranFor(exited)).toBeGreaterThanOrEqual(1000 - 50);
    expect(ranFor(exited)).toBeLessThan(3_000);
  });

  it('never creates a container for an attempt terminated before it started', async () => {
    const abort = new AbortController();
    abort.abort('cancelled early');
    const job = payload({ command: ['sleep', '30'] });
    const { running, exited } = await run(job, { signal: abort.signal });
    expect(exited).toMatchObject({
      containerId: null,
      startedAt: null,
      end: { kind: 'terminated', reason: 'cancelled early', exitCode: null },
      logs: [],
      logsTruncated: false,
    });
    expect(running).toEqual([]);
    await expect(docker.getContainer(containerName(job.jobId, 1)).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('abandons an image pull when the attempt is terminated, and starts nothing', async () => {
    const sockets = new Set<Socket>();
    const registry = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    const { port } = registry.address() as AddressInfo;
    try {
      const abort = new AbortController();
      setTimeout(() => abort.abort('not needed any more'), 500);
      const started = Date.now();
      const job = payload({ image: `127.0.0.1:${port}/stalled:1` });
      const { running, exited } = await run(job, { runner: runner({ pullTimeoutMs: 20_000 }), signal: abort.signal });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(exited).toMatchObject({ containerId: null, startedAt: null, end: { kind: 'terminated', reason: 'not needed any more', exitCode: null } });
      expect(running).toEqual([]);
      await expect(docker.getContainer(containerName(job.jobId, 1)).inspect()).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => registry.close(resolve));
    }
  });

  it('copes with a container that is already gone when it is stopped', async () => {
    // Someone else removes the container just as the runner stops it.
    const containers = Object.getPrototypeOf(docker.getContainer('any')) as Docker.Container;
    const stop = containers.stop;
    const removedFirst = jest.spyOn(containers, 'stop').mockImplementationOnce(async function (this: Docker.Container, options?: object) {
      await this.remove({ force: true });
      return stop.call(this, options);
    } as Docker.Container['stop']);
    const abort = new AbortController();
    try {
      const { exited } = await run(payload({ command: ['sleep', '30'] }), {
        signal: abort.signal,
        onRunning: async () => abort.abort('gone anyway'),
      });
      expect(removedFirst).toHaveBeenCalledTimes(1);
      expect(exited.end).toEqual({ kind: 'terminated', reason: 'gone anyway', exitCode: null });
      expect(exited.logs).toEqual([]);
    } finally {
      removedFirst.mockRestore();
    }
  });

  it('ignores a terminate that comes after the container exited', async () => {
    const abort = new AbortController();
    const { exited } = await run(payload({ command: ['sh', '-c', 'exit 2'] }), { signal: abort.signal });
    abort.abort('too late');
    expect(exited.end).toEqual({ kind: 'exited', exitCode: 2, oomKilled: false });
  });
});
