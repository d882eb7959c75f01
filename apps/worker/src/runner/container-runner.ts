import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { imageRegistry, registryAllowed } from '#libs/config';
import type { AttemptEnd } from '#libs/core';
import type { Logger } from '#libs/log';
import type { AttemptExitedEvent, AttemptPullingEvent, AttemptRunningEvent, DispatchPayload } from '#libs/queue';
import { acknowledged, jobDir, PreemptionRequest, prepareJobDir, writeNotice } from './job-data.js';
import { containerSpec } from './container-spec.js';
import { dockerErrorMessage, dockerStatus } from './docker-error.js';
import { hostPathRefusal } from './host-paths.js';
import { describePullFailure } from './pull-failure.js';
import { alarm, timeoutDeadline } from './deadline.js';
import { dockerTime, stopTime } from './docker-time.js';
import { initExecFailure } from './init-failure.js';
import { LogCollector } from './log-collector.js';
import type { LiveAttemptLog, LiveLogs } from '../logs/live-logs.js';

export interface RunnerOptions {
  workerId: string;
  networkMode: string;
  maxLogBytes: number;
  /** Upper bound on one image pull: a registry that stalls must not hold an attempt forever. */
  pullTimeoutMs: number;
  /** Between SIGTERM and SIGKILL when the runner stops a container (timeout, terminate). */
  stopGraceSeconds: number;
  /** Set: every container gets its job's directory here mounted at /gpubatch (checkpoints, preemption notice). */
  jobDataDir?: string;
}

export interface RunHooks {
  /** Awaited before the runner waits for the exit, so the container still exists while it runs. */
  onRunning(event: AttemptRunningEvent): Promise<void>;
  /** Told when the image must be pulled first (the job's reason then says so); a failure to tell is only logged. */
  onPulling?(event: AttemptPullingEvent): Promise<void>;
  /**
   * Awaited with the exit before the container is removed: a worker killed in
   * between leaves an exited container its restart adopts, never a lost exit.
   */
  onExited?(event: AttemptExitedEvent): Promise<void>;
  /**
   * Aborted to terminate the attempt, with the reason (a string) as the abort
   * reason: before the container starts, it never starts; once it runs, it
   * is stopped (SIGTERM, grace, SIGKILL). Either way the attempt ends `terminated`.
   */
  signal?: AbortSignal;
}

/** What runs an attempt: Docker (ContainerRunner), or the benchmark's SimulatedRunner. */
export interface AttemptRunner {
  run(payload: DispatchPayload, hooks: RunHooks): Promise<AttemptExitedEvent>;
}

type Exit = { stoppedAt: string; end: Extract<AttemptEnd, { kind: 'exited' | 'timeout' | 'terminated' | 'preempted' | 'interrupted' }> };

/** Which attempt a container runs, and its timeout. */
type Identity = Pick<DispatchPayload, 'jobId' | 'attempt' | 'timeoutSeconds'>;

/** A container of this worker found at start-up, left by an earlier process: its labels and its inspect. */
export interface FoundContainer extends Identity {
  container: Docker.Container;
  state: Docker.ContainerInspectInfo['State'];
}

/** Why the runner stops a running container. */
type StopCause = { kind: 'timeout'; timeoutSeconds: number } | { kind: 'terminated'; reason: string }
  | { kind: 'preempted'; by: string; acknowledged: boolean } | { kind: 'interrupted'; acknowledged: boolean };

/** The `terminated` reason carried by an aborted signal. */
export function terminateReason(signal: AbortSignal): string {
  if (signal.reason instanceof PreemptionRequest) return `Preempted by job ${signal.reason.by}`;
  return typeof signal.reason === 'string' && signal.reason.trim() !== '' ? signal.reason : 'Terminated by the worker';
}

/**
 * Hands the RUNNING report over without holding up the run: the caller arms
 * its timeout and terminate beside it (a report stuck on an unreachable
 * Redis must not let an attempt outrun its timeout) and awaits the result
 * before its exit report, so RUNNING still goes first. A failed report does
 * not end the run: the exit report carries startedAt too.
 */
export function reportRunning(hooks: Pick<RunHooks, 'onRunning'>, event: AttemptRunningEvent, log?: Logger): Promise<void> {
  return (async () => hooks.onRunning(event))().catch((error: unknown) => {
    log?.error({ err: error }, 'reporting attempt-running failed');
  });
}

/**
 * Runs one attempt in a Docker container: image, create, start, wait (or
 * stop it on timeout or terminate), logs, remove. What the container did is
 * the result (an exit code is not an error); it throws only when Docker
 * fails after the container started, when the outcome is unknown.
 */
export class ContainerRunner implements AttemptRunner {
  constructor(
    private readonly docker: Docker,
    private readonly options: RunnerOptions,
    private readonly logger: Logger,
    /** Where output is copied live while the container runs (logs?follow=true); none in tests that do not need it. */
    private readonly live: LiveLogs | null = null,
  ) {}

  async run(payload: DispatchPayload, hooks: RunHooks): Promise<AttemptExitedEvent> {
    const created: Docker.Container[] = [];
    return this.conclude(payload, hooks, created, (live) => this.runAttempt(payload, hooks, live, created));
  }

  /**
   * Takes over a container an earlier process of this worker left: a running
   * one is watched to its end as run() does (live logs, timeout counted from
   * its real start, terminate), an exited one is read as it is. Either way its
   * exit is returned and the container removed; one that never started ends
   * the attempt start-failed.
   */
  async adopt(found: FoundContainer, hooks: RunHooks): Promise<AttemptExitedEvent> {
    return this.conclude(found, hooks, [found.container], (live) => this.adoptAttempt(found, hooks, live));
  }

  /** The end of every attempt: live copy ended, exit handed to onExited, then the container removed (also on a throw). */
  private async conclude(
    identity: Identity,
    hooks: RunHooks,
    containers: Docker.Container[],
    attempt: (live: LiveAttemptLog | null) => Promise<AttemptExitedEvent>,
  ): Promise<AttemptExitedEvent> {
    const live = this.live?.open(identity.jobId, identity.attempt) ?? null;
    try {
      let exited: AttemptExitedEvent;
      try {
        exited = await attempt(live);
      } finally {
        // Also when the container never started: the end marker tells followers the attempt is over.
        // Before the removal, which would cut the live copy's last lines.
        await live?.end();
      }
      await hooks.onExited?.(exited);
      return exited;
    } finally {
      const log = this.logger.child({ jobId: identity.jobId, attempt: identity.attempt });
      for (const container of containers) await this.remove(container, log);
    }
  }

  private async adoptAttempt(found: FoundContainer, hooks: RunHooks, live: LiveAttemptLog | null): Promise<AttemptExitedEvent> {
    const { container, state } = found;
    const log = this.logger.child({ jobId: found.jobId, attempt: found.attempt, containerId: container.id });
    if (state.Status === 'created') {
      log.warn('adopted a container that never started');
      return {
        type: 'attempt-exited', jobId: found.jobId, attempt: found.attempt, workerId: this.options.workerId, containerId: container.id,
        startedAt: null, stoppedAt: new Date().toISOString(),
        end: { kind: 'start-failed', message: 'the worker restarted before the container started' }, logs: [], logsTruncated: false,
      };
    }
    const startedAt = dockerTime(state.StartedAt);
    if (state.Running || state.Status === 'paused' || state.Status === 'restarting') {
      log.info({ startedAt, timeoutSeconds: found.timeoutSeconds }, 'adopted a running container');
      // Its real start, as Docker saw it: no start call of ours to bound it with.
      const deadline = timeoutDeadline(found.timeoutSeconds, startedAt, 0, Date.now());
      return await this.watch(container, found, startedAt, deadline, hooks, live, log);
    }
    live?.follow(container);
    const ranMs = Date.parse(state.FinishedAt) - Date.parse(startedAt);
    // It ran past its deadline: the earlier process stopped it for its timeout (or it would have).
    const timedOut = found.timeoutSeconds !== null && ranMs >= found.timeoutSeconds * 1000;
    const exit: Exit = {
      stoppedAt: dockerTime(state.FinishedAt),
      end: timedOut
        ? { kind: 'timeout', timeoutSeconds: found.timeoutSeconds!, exitCode: state.ExitCode }
        : { kind: 'exited', exitCode: state.ExitCode, oomKilled: state.OOMKilled },
    };
    log.info({ startedAt }, 'adopted an exited container');
    return await this.exitedEvent(container, found, startedAt, exit, log);
  }

  private async runAttempt(payload: DispatchPayload, hooks: RunHooks, live: LiveAttemptLog | null, created: Docker.Container[]): Promise<AttemptExitedEvent> {
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
    const { signal } = hooks;
    // Terminated before its container started: it never starts.
    const terminatedEarly = (containerId: string | null): AttemptExitedEvent => {
      log.info({ containerId }, 'attempt terminated before its container started');
      if (signal!.reason instanceof PreemptionRequest) return ended(containerId, signal!.reason.end(false, null));
      return ended(containerId, { kind: 'terminated', reason: terminateReason(signal!), exitCode: null });
    };
    if (signal?.aborted) return terminatedEarly(null);
    const refused = refusal(payload);
    if (refused !== null) {
      log.warn({ image: payload.image, reason: refused.message }, 'attempt refused before its container was created');
      return ended(null, refused);
    }
    const hostPaths = await hostPathRefusal(payload.container);
    if (hostPaths !== null) {
      log.warn({ reason: hostPaths }, 'attempt refused: a host path it mounts is not allowed');
      return ended(null, { kind: 'start-failed', message: hostPaths });
    }

    let pullError: string | null;
    try {
      const onPulling = async () => {
        await hooks.onPulling?.({ type: 'attempt-pulling', jobId: payload.jobId, attempt: payload.attempt, workerId: this.options.workerId, image: payload.image })
          .catch((error: unknown) => log.warn({ err: error }, 'could not report that the image is being pulled'));
      };
      pullError = await this.ensureImage(payload.image, signal, payload.container?.pullPolicy ?? 'if-not-present', payload.registryAuth, onPulling);
    } catch (error) {
      if (signal?.aborted) return terminatedEarly(null);
      return ended(null, { kind: 'start-failed', message: `cannot inspect image ${payload.image}: ${dockerErrorMessage(error)}` });
    }
    if (signal?.aborted) return terminatedEarly(null);
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
    created.push(container);

    if (signal?.aborted) return terminatedEarly(container.id);
    const beforeStart = Date.now();
    try {
      await container.start();
    } catch (error) {
      log.warn({ err: error, containerId: container.id }, 'container start failed');
      return ended(container.id, { kind: 'start-failed', message: dockerErrorMessage(error) });
    }
    const afterStart = Date.now();
    const startedAt = dockerTime((await container.inspect()).State.StartedAt);
    const deadline = timeoutDeadline(payload.timeoutSeconds, startedAt, beforeStart, afterStart);
    return await this.watch(container, payload, startedAt, deadline, hooks, live, log);
  }

  /** From the container's start to its exit: live logs, the RUNNING report, the wait (or the stop), the output. */
  private async watch(
    container: Docker.Container,
    identity: Identity,
    startedAt: string,
    deadline: number | null,
    hooks: RunHooks,
    live: LiveAttemptLog | null,
    log: Logger,
  ): Promise<AttemptExitedEvent> {
    live?.follow(container);
    log.info({ containerId: container.id, startedAt, timeoutSeconds: identity.timeoutSeconds }, 'container running');
    const reported = reportRunning(hooks, {
      type: 'attempt-running',
      jobId: identity.jobId,
      attempt: identity.attempt,
      workerId: this.options.workerId,
      containerId: container.id,
      startedAt,
    }, log);
    const dir = this.options.jobDataDir ? jobDir(this.options.jobDataDir, identity.jobId) : undefined;
    const exit = await this.waitForExit(container, { deadline, timeoutSeconds: identity.timeoutSeconds ?? 0, signal: hooks.signal, jobDir: dir }, log);
    await reported;
    return this.exitedEvent(container, identity, startedAt, exit, log);
  }

  private async exitedEvent(container: Docker.Container, identity: Identity, startedAt: string, exit: Exit, log: Logger): Promise<AttemptExitedEvent> {
    const stoppedAt = stopTime(startedAt, exit.stoppedAt);
    const logs = await this.collectLogs(container);
    const execFailed = exit.end.kind === 'exited' ? initExecFailure(exit.end.exitCode, logs.lines) : null;
    const end: AttemptEnd = execFailed === null ? exit.end : { kind: 'start-failed', message: execFailed };
    log.info({ containerId: container.id, ...end, stoppedAt }, 'container exited');
    return {
      type: 'attempt-exited',
      jobId: identity.jobId,
      attempt: identity.attempt,
      workerId: this.options.workerId,
      containerId: container.id,
      startedAt,
      stoppedAt,
      end,
      logs: logs.lines,
      logsTruncated: logs.truncated,
    };
  }

  /**
   * null when the image is present (pulled if need be, or always with the
   * `always` pull policy), else why it could not be had: auth, not found or
   * network first (pull-failure.ts), then the daemon's words.
   */
  private async ensureImage(
    image: string, signal: AbortSignal | undefined, policy: 'always' | 'if-not-present', auth: DispatchPayload['registryAuth'],
    onPulling: () => Promise<void>,
  ): Promise<string | null> {
    if (policy === 'if-not-present' && await this.imageExists(image)) return null;
    await onPulling();
    try {
      await this.pull(image, signal, auth);
    } catch (error) {
      return describePullFailure(dockerErrorMessage(error));
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

  /** Pulls `image`; gives up after pullTimeoutMs, or at once when `signal` aborts (a terminate). */
  private pull(image: string, signal: AbortSignal | undefined, auth?: DispatchPayload['registryAuth']): Promise<void> {
    const abort = new AbortController();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const onTerminate = () => settle(new Error(`pulling ${image} was abandoned: the attempt was terminated`));
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onTerminate);
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
      if (signal?.aborted) return onTerminate();
      signal?.addEventListener('abort', onTerminate, { once: true });
      this.docker.pull(image, { abortSignal: abort.signal, ...(auth ? { authconfig: auth } : {}) }).then(
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
    const dir = this.options.jobDataDir ? jobDir(this.options.jobDataDir, payload.jobId) : undefined;
    if (dir) await prepareJobDir(dir);
    const spec = containerSpec(payload, { workerId: this.options.workerId, networkMode: this.options.networkMode, ...(dir ? { jobDir: dir } : {}) });
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

  /**
   * Waits for the container to exit by itself, unless the deadline passes or
   * the attempt is terminated first: then it stops the container (SIGTERM,
   * stopGraceSeconds, SIGKILL) and the attempt ends `timeout` or `terminated`.
   */
  private async waitForExit(
    container: Docker.Container,
    when: { deadline: number | null; timeoutSeconds: number; signal: AbortSignal | undefined; jobDir?: string },
    log: Logger,
  ): Promise<Exit> {
    const exited = container.wait({ condition: 'not-running' });
    const { deadline, signal } = when;
    let cancel = () => {};
    const stopRequested = new Promise<StopCause>((resolve) => {
      const onAbort = () => {
        const reason: unknown = signal!.reason;
        if (reason instanceof PreemptionRequest) {
          void this.handshake(container, reason, when.jobDir, exited, log).then(resolve);
          return;
        }
        resolve({ kind: 'terminated', reason: terminateReason(signal!) });
      };
      const cancelAlarm = deadline === null ? () => {} : alarm(deadline, () => resolve({ kind: 'timeout', timeoutSeconds: when.timeoutSeconds }));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      cancel = () => {
        cancelAlarm();
        signal?.removeEventListener('abort', onAbort);
      };
    });
    let cause: StopCause | null;
    try {
      cause = await Promise.race([exited.then(() => null), stopRequested]);
    } finally {
      cancel();
    }

    if (cause === null) {
      const { State } = await container.inspect();
      const preemption: unknown = signal?.aborted ? signal.reason : undefined;
      if (preemption instanceof PreemptionRequest) {
        // It checkpointed and exited by itself within its grace: a preemption it went along with.
        return { stoppedAt: dockerTime(State.FinishedAt), end: preemption.end(true, State.ExitCode) };
      }
      return { stoppedAt: dockerTime(State.FinishedAt), end: { kind: 'exited', exitCode: State.ExitCode, oomKilled: State.OOMKilled } };
    }

    log.info({ containerId: container.id, ...cause, graceSeconds: this.options.stopGraceSeconds }, 'stopping container');
    const stop = await this.stop(container, log);
    if (stop === 'failed') {
      // Neither stop nor kill went through: whether it still runs is unknown (the removal that follows tries once more).
      throw new Error(`cannot stop container ${container.id} (${cause.kind})`);
    }
    // A container removed under us ends the wait with an error: it is gone all the same.
    await exited.catch((error: unknown) => {
      if (stop !== 'gone' && dockerStatus(error) !== 404) throw error;
    });
    let State: Docker.ContainerInspectInfo['State'];
    try {
      ({ State } = await container.inspect());
    } catch (error) {
      if (dockerStatus(error) !== 404) throw error;
      log.warn({ containerId: container.id }, 'container gone while being stopped');
      return { stoppedAt: new Date().toISOString(), end: { ...cause, exitCode: null } };
    }
    const stoppedAt = dockerTime(State.FinishedAt);
    // It exited by itself just before the stop request reached it: that exit is the result.
    if (stop === 'not-running' && cause.kind !== 'preempted' && cause.kind !== 'interrupted') {
      return { stoppedAt, end: { kind: 'exited', exitCode: State.ExitCode, oomKilled: State.OOMKilled } };
    }
    return { stoppedAt, end: { ...cause, exitCode: State.ExitCode } };
  }

  /**
   * The checkpoint handshake: the notice file, the signal, then up to the
   * grace for the acknowledgement file (or the container's own exit).
   */
  private async handshake(
    container: Docker.Container, request: PreemptionRequest, dir: string | undefined, exited: Promise<unknown>, log: Logger,
  ): Promise<StopCause> {
    const deadline = Date.now() + request.graceSeconds * 1000;
    if (dir) {
      await writeNotice(dir, { by: request.by, graceSeconds: request.graceSeconds, deadline: new Date(deadline).toISOString() })
        .catch((error: unknown) => log.warn({ err: error }, 'cannot write the preemption notice'));
    }
    await container.kill({ signal: request.signal }).catch((error: unknown) => log.warn({ err: error, signal: request.signal }, 'cannot signal the preempted container'));
    log.info({ containerId: container.id, by: request.by, graceSeconds: request.graceSeconds }, 'preemption notice sent');
    let gone = false;
    exited.then(() => (gone = true), () => (gone = true));
    while (!gone && Date.now() < deadline && !(dir && acknowledged(dir))) await new Promise((r) => setTimeout(r, 200));
    const acked = dir !== undefined && acknowledged(dir);
    log.info({ containerId: container.id, acknowledged: acked }, acked ? 'checkpoint acknowledged' : 'preemption grace over');
    const { exitCode: _none, ...cause } = request.end(acked, null);
    return cause;
  }

  /**
   * SIGTERM, then SIGKILL after the grace period (Docker's stop does both and
   * returns once the container is down). Never throws: a container that has
   * already stopped or is gone is what we wanted; a daemon that refuses both
   * stop and kill is 'failed'.
   */
  private async stop(container: Docker.Container, log: Logger): Promise<'stopped' | 'not-running' | 'gone' | 'failed'> {
    try {
      await container.stop({ t: this.options.stopGraceSeconds });
      return 'stopped';
    } catch (error) {
      const status = dockerStatus(error);
      if (status === 304) return 'not-running';
      if (status === 404) return 'gone';
      log.error({ err: error, containerId: container.id }, 'container stop failed; killing it');
    }
    try {
      await container.kill({ signal: 'SIGKILL' });
      return 'stopped';
    } catch (error) {
      const status = dockerStatus(error);
      if (status === 404) return 'gone';
      // 409: not running any more.
      if (status === 409) return 'not-running';
      log.error({ err: error, containerId: container.id }, 'container kill failed');
      return 'failed';
    }
  }

  private async collectLogs(container: Docker.Container): Promise<LogCollector> {
    const collector = new LogCollector(this.options.maxLogBytes);
    // follow: a stream read frame by frame, so a huge output is never held whole; it ends at once on a stopped container.
    let stream: Readable;
    try {
      stream = (await container.logs({ follow: true, stdout: true, stderr: true, timestamps: true })) as Readable;
    } catch (error) {
      // Removed under us (only a stop tolerates that): its output went with it.
      if (dockerStatus(error) !== 404) throw error;
      collector.finish();
      return collector;
    }
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

/** Why an attempt must not start on this worker whatever Docker would say; null when it may. */
function refusal(payload: DispatchPayload): Extract<AttemptEnd, { kind: 'pull-failed' | 'start-failed' }> | null {
  const allowed = payload.container?.allowedRegistries ?? null;
  if (!registryAllowed(payload.image, allowed)) {
    return { kind: 'pull-failed', message: `registry ${imageRegistry(payload.image)} of image ${payload.image} is not allowed in this pool` };
  }
  const missing = (payload.secretNames ?? []).filter((name) => payload.secretEnvironment?.[name] === undefined);
  if (missing.length > 0) {
    // The values leave Redis when the entry is first claimed: a re-delivery after a worker crash no longer has them.
    return { kind: 'start-failed', message: `SecretsUnavailable: the values of ${missing.join(', ')} were not in the dispatch (no key on the scheduler, or already withdrawn by an earlier claim)` };
  }
  return null;
}
