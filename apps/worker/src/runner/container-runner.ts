import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { AttemptEnd } from '#libs/core';
import type { Logger } from '#libs/log';
import type { AttemptExitedEvent, AttemptRunningEvent, DispatchPayload } from '#libs/queue';
import { containerSpec } from './container-spec.js';
import { dockerErrorMessage, dockerStatus } from './docker-error.js';
import { dockerTime, stopTime } from './docker-time.js';
import { LogCollector } from './log-collector.js';

export interface RunnerOptions {
  workerId: string;
  networkMode: string;
  maxLogBytes: number;
  /** Upper bound on one image pull: a registry that stalls must not hold an attempt forever. */
  pullTimeoutMs: number;
}

export interface RunHooks {
  /** Awaited before the runner waits for the exit, so the container still exists while it runs. */
  onRunning(event: AttemptRunningEvent): Promise<void>;
}

interface Exit {
  stoppedAt: string;
  end: Extract<AttemptEnd, { kind: 'exited' }>;
}

/**
 * Runs one attempt in a Docker container: image, create, start, wait,
 * logs, remove. What the container did is the result (an exit code is not
 * an error); it throws only when Docker fails after the container started,
 * when the outcome is unknown.
 */
export class ContainerRunner {
  constructor(
    private readonly docker: Docker,
    private readonly options: RunnerOptions,
    private readonly logger: Logger,
  ) {}

  async run(payload: DispatchPayload, hooks: RunHooks): Promise<AttemptExitedEvent> {
    const log = this.logger.child({ jobId: payload.jobId, attempt: payload.attempt });
    const ended = (containerId: string | null, end: AttemptEnd): AttemptExitedEvent => ({
      type: 'attempt-exited',
      jobId: payload.jobId,
      attempt: payload.attempt,
      workerId: this.options.workerId,
      containerId,
      startedAt: null,
      stoppedAt: new Date().toISOString(),
      end,
      logs: [],
      logsTruncated: false,
    });

    let pullError: string | null;
    try {
      pullError = await this.ensureImage(payload.image);
    } catch (error) {
      return ended(null, { kind: 'start-failed', message: `cannot inspect image ${payload.image}: ${dockerErrorMessage(error)}` });
    }
    if (pullError !== null) {
      log.warn({ image: payload.image, reason: pullError }, 'image pull failed');
      return ended(null, { kind: 'pull-failed', message: pullError });
    }

    let container: Docker.Container;
    try {
      container = await this.create(payload);
    } catch (error) {
      log.warn({ err: error }, 'container create failed');
      return ended(null, { kind: 'start-failed', message: dockerErrorMessage(error) });
    }

    try {
      try {
        await container.start();
      } catch (error) {
        log.warn({ err: error, containerId: container.id }, 'container start failed');
        return ended(container.id, { kind: 'start-failed', message: dockerErrorMessage(error) });
      }
      const startedAt = dockerTime((await container.inspect()).State.StartedAt);
      log.info({ containerId: container.id, startedAt }, 'container running');
      try {
        await hooks.onRunning({
          type: 'attempt-running',
          jobId: payload.jobId,
          attempt: payload.attempt,
          workerId: this.options.workerId,
          containerId: container.id,
          startedAt,
        });
      } catch (error) {
        // The exit report carries startedAt too, so the run goes on.
        log.error({ err: error }, 'reporting attempt-running failed');
      }
      const exit = await this.waitForExit(container);
      const stoppedAt = stopTime(startedAt, exit.stoppedAt);
      const logs = await this.collectLogs(container);
      log.info({ containerId: container.id, ...exit.end, stoppedAt }, 'container exited');
      return {
        type: 'attempt-exited',
        jobId: payload.jobId,
        attempt: payload.attempt,
        workerId: this.options.workerId,
        containerId: container.id,
        startedAt,
        stoppedAt,
        end: exit.end,
        logs: logs.lines,
        logsTruncated: logs.truncated,
      };
    } finally {
      await this.remove(container, log);
    }
  }

  /** null when the image is present (pulled if need be), else why it could not be had. */
  private async ensureImage(image: string): Promise<string | null> {
    if (await this.imageExists(image)) return null;
    try {
      await this.pull(image);
    } catch (error) {
      return dockerErrorMessage(error);
    }
    return (await this.imageExists(image)) ? null : `image ${image} is not present after pulling it`;
  }

  private async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (error) {
      if (dockerStatus(error) === 404) return false;
      throw error;
    }
  }

  private pull(image: string): Promise<void> {
    const abort = new AbortController();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) {
          abort.abort();
          reject(error);
        } else {
          resolve();
        }
      };
      const timer = setTimeout(
        () => settle(new Error(`pulling ${image} did not finish within ${this.options.pullTimeoutMs} ms`)),
        this.options.pullTimeoutMs,
      );
      this.docker.pull(image, { abortSignal: abort.signal }).then(
        (stream) => {
          if (settled) return (stream as Readable).destroy();
          // The daemon reports a failed pull inside a 200 stream, as a progress event.
          this.docker.modem.followProgress(
            stream,
            (error: Error | null) => settle(error ?? undefined),
            (event: { error?: string; errorDetail?: { message?: string } }) => {
              if (event.error) settle(new Error(event.errorDetail?.message ?? event.error));
            },
          );
        },
        (error: unknown) => settle(error as Error),
      );
    });
  }

  private async create(payload: DispatchPayload): Promise<Docker.Container> {
    const spec = containerSpec(payload, { workerId: this.options.workerId, networkMode: this.options.networkMode });
    try {
      return await this.docker.createContainer(spec);
    } catch (error) {
      if (dockerStatus(error) !== 409) throw error;
      // Left by an earlier claim of this same attempt (a worker that died mid-run): it is not ours to resume.
      this.logger.warn({ name: spec.name }, 'removing a container left by an earlier claim of this attempt');
      await this.docker.getContainer(spec.name!).remove({ force: true, v: true });
      return this.docker.createContainer(spec);
    }
  }

  /** Where a job timeout would race the wait and stop the container. */
  private async waitForExit(container: Docker.Container): Promise<Exit> {
    await container.wait({ condition: 'not-running' });
    const { State } = await container.inspect();
    return {
      stoppedAt: dockerTime(State.FinishedAt),
      end: { kind: 'exited', exitCode: State.ExitCode, oomKilled: State.OOMKilled },
    };
  }

  private async collectLogs(container: Docker.Container): Promise<LogCollector> {
    const collector = new LogCollector(this.options.maxLogBytes);
    // follow: a stream read frame by frame, so a huge output is never held whole; it ends at once on a stopped container.
    const stream = (await container.logs({ follow: true, stdout: true, stderr: true, timestamps: true })) as Readable;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        collector.push(chunk);
        if (collector.truncated) {
          stream.destroy();
          resolve();
        }
      });
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
      stream.on('error', (error) => (collector.truncated ? resolve() : reject(error)));
    });
    collector.finish();
    return collector;
  }

  private async remove(container: Docker.Container, log: Logger): Promise<void> {
    try {
      await container.remove({ force: true, v: true });
    } catch (error) {
      if (dockerStatus(error) !== 404) log.error({ err: error, containerId: container.id }, 'container remove failed');
    }
  }
}
