import path from 'node:path';
import Docker from 'dockerode';
import type { WorkerConfig } from '#libs/config';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis, type WorkerDescriptor } from '#libs/queue';
import { declareCapacity } from './capacity/capacity.js';
import { discoverGpus } from './capacity/gpu-discovery.js';
import { AttemptRegistry } from './control/attempt-registry.js';
import { SpotNoticePoller } from './spot/spot-notice.js';
import { ControlConsumer } from './control/control-consumer.js';
import { DispatchConsumer } from './dispatch/dispatch-consumer.js';
import { Heartbeat } from './heartbeat/heartbeat.js';
import { obtainIdentity } from './join/join.js';
import { LiveLogs } from './logs/live-logs.js';
import { EventReporter } from './reporter/event-reporter.js';
import { Outbox } from './reporter/outbox.js';
import { adoptContainers } from './runner/adoption.js';
import { ContainerRunner, type AttemptRunner } from './runner/container-runner.js';
import { SimulatedRunner } from './runner/simulated-runner.js';
import { containerName } from './runner/container-spec.js';
import { GpuSampler, nvidiaSmiSamples } from './gpu-usage/gpu-sampler.js';
import { workerMetrics } from './metrics/worker-metrics.js';

// Multi-GB ML images take minutes to pull; this only stops a registry that hangs for good.
const PULL_TIMEOUT_MS = 30 * 60_000;
// How soon a report Redis lost is sent again, and a recorded one leaves the disk.
const OUTBOX_SYNC_MS = 2000;

export interface WorkerAgent {
  /** What the worker declared when it joined. */
  descriptor: WorkerDescriptor;
  /** Drains: no new attempts, running ones finish (or are terminated) and report, then the worker leaves the pool. */
  stop(): Promise<void>;
  /** Resolves once the worker has left, whether through stop() or an operator's drain request. */
  left: Promise<void>;
  /**
   * Resolves when Redis refuses this joined worker's credentials (revoked, or
   * Redis restarted without its ACL users): the process should exit, and a
   * restart joins again with the join token.
   */
  credentialsRejected: Promise<Error>;
}

/** Declares capacity, joins the pool and starts running the attempts dispatched to this worker. */
export async function startWorker(config: WorkerConfig, logger: Logger): Promise<WorkerAgent> {
  const gpus = await discoverGpus(config.gpus);
  const descriptor = declareCapacity(config, gpus);

  const simulated = config.runtime === 'simulated';
  const docker = new Docker({ socketPath: config.dockerSocket });
  if (simulated) {
    logger.warn({ workerId: config.workerId }, 'WORKER_RUNTIME=simulated: attempts only sleep, no container runs (benchmarks only)');
  } else {
    try {
      await docker.ping();
    } catch (error) {
      throw new Error(`Docker engine unreachable at ${config.dockerSocket}: ${(error as Error).message}`);
    }
  }

  const outbox = new Outbox(path.join(config.stateDir, 'outbox'), {
    onError: (error, what) => logger.warn({ err: error, dir: path.join(config.stateDir, 'outbox') }, `${what} failed`),
  });
  await outbox.open();
  if (outbox.unreadable.length > 0) logger.error({ files: outbox.unreadable }, 'damaged outbox files were set aside (their whole reports were kept)');
  if (outbox.tornBytes > 0) logger.warn({ bytes: outbox.tornBytes }, 'dropped the end of an outbox segment a crash cut short (reports never acknowledged)');

  // With WORKER_JOIN_TOKEN: this worker's own Redis user and report-signing key (docs/worker-security.md).
  const identity = await obtainIdentity(config, logger);
  const redisUrl = identity.redisUrl;
  const redis = createRedis(redisUrl, `worker-${config.workerId}`);
  let rejectCredentials!: (error: Error) => void;
  const credentialsRejected = new Promise<Error>((resolve) => (rejectCredentials = resolve));
  if (identity.joined) {
    redis.on('error', (error: Error) => {
      if (/WRONGPASS|NOAUTH|NOPERM this user has no permissions to run the 'auth'/.test(error.message)) rejectCredentials(error);
    });
  }
  const reporter = new EventReporter(redis, outbox, { syncIntervalMs: OUTBOX_SYNC_MS, signingKey: identity.signingKey }, logger);
  // Its own connection, failing fast ('request'): live logs are best effort and must never queue up behind an outage.
  // A simulated attempt writes no output: no connection for live logs.
  const liveLogs = simulated ? null : new LiveLogs(createRedis(redisUrl, `worker-${config.workerId}-logs`, 'request'), config.workerId, { maxBytes: config.maxLogBytes }, logger);
  const containers = new ContainerRunner(
    docker,
    {
      workerId: config.workerId,
      networkMode: config.networkMode,
      maxLogBytes: config.maxLogBytes,
      pullTimeoutMs: PULL_TIMEOUT_MS,
      stopGraceSeconds: config.stopGraceSeconds,
      ...(config.jobDataDir ? { jobDataDir: config.jobDataDir } : {}),
    },
    logger,
    liveLogs,
  );
  const runner: AttemptRunner = simulated ? new SimulatedRunner(config.workerId, logger) : containers;
  const attempts = new AttemptRegistry();
  // Only where GPUs were discovered with nvidia-smi: configured GPUs have no nvidia-smi to ask.
  const sampler = config.gpus.mode === 'auto' && gpus.length > 0 ? new GpuSampler(nvidiaSmiSamples(), config.gpuSampleMs ?? 10_000, logger) : null;
  const consumer = new DispatchConsumer(
    { redisUrl, workerId: config.workerId, concurrency: config.maxConcurrentJobs },
    runner,
    reporter,
    attempts,
    logger,
    sampler,
  );
  const control = new ControlConsumer({ redisUrl, workerId: config.workerId }, attempts, logger, async (jobId, attempt) => {
    if (simulated) return; // a simulated attempt leaves nothing behind
    const leftover = docker.getContainer(containerName(jobId, attempt));
    try {
      await leftover.stop({ t: config.stopGraceSeconds });
    } catch {
      // not there, or already stopped: nothing to stop
    }
    await leftover.remove({ force: true, v: true }).then(
      () => logger.warn({ jobId, attempt }, 'removed a container left by an earlier run of this worker'),
      () => undefined,
    );
  }, config.jobDataDir, (deadline) => interrupt(deadline));
  /**
   * A spot interruption: every running attempt gets the checkpoint handshake,
   * its grace ending a stop-grace before the deadline (so the kill lands in
   * time), and the worker drains: it claims nothing more and leaves.
   */
  const interrupt = (deadline: number): void => {
    const graceSeconds = Math.max(0, Math.floor((deadline - Date.now()) / 1000) - config.stopGraceSeconds);
    const n = attempts.interruptAll(graceSeconds, 'SIGUSR1');
    logger.warn({ deadline: new Date(deadline).toISOString(), graceSeconds, attempts: n }, 'spot interruption: draining');
    drain().catch((error: Error) => logger.error({ err: error }, 'drain failed'));
  };
  const spotNotice = config.spotNotice ? new SpotNoticePoller(config.spotNotice.url, config.spotNotice.intervalMs, interrupt, logger) : null;

  let adopted: Promise<void> = Promise.resolve();
  let markLeft!: () => void;
  const left = new Promise<void>((resolve) => (markLeft = resolve));
  let draining: Promise<void> | null = null;
  const drain = (): Promise<void> => {
    draining ??= (async () => {
      logger.info({ workerId: config.workerId }, 'draining');
      spotNotice?.stop();
      // Stop claiming first, so that once the heartbeat shows DRAINING nothing new is taken.
      const closed = consumer.close();
      await heartbeat.setState('DRAINING');
      await closed;
      await adopted;
      // Only now: a terminate must still reach the attempts that run on during the drain.
      await control.close();
      sampler?.stop();
      await heartbeat.leave();
      await reporter.close();
      await outbox.close();
      await liveLogs?.close();
      await closeRedis(redis);
      logger.info({ workerId: config.workerId }, 'left the pool');
      markLeft();
    })();
    return draining;
  };
  const heartbeat = new Heartbeat(
    redis,
    reporter,
    // The scheduler spares an attempt whose dispatch lock this process holds but has not got to listing yet.
    { ...descriptor, claimer: consumer.claimerId },
    {
      intervalMs: config.heartbeatMs,
      // Joined workers are registered by the control plane (and may not write the registry); dev-mode ones register themselves.
      registerSelf: !identity.joined,
      // Exits not yet recorded too: until then the attempt still holds its resources.
      attempts: () => [...attempts.heldKeys(), ...reporter.unrecordedExits()],
      onDrainRequested: () => {
        drain().catch((error: Error) => logger.error({ err: error }, 'drain failed'));
      },
    },
    logger,
  );

  workerMetrics.watch(() => attempts.heldKeys().length, () => heartbeat.lastWritten());
  try {
    // Reports an earlier process left go out first, so an adopted attempt's RUNNING is ahead of its exit.
    await reporter.start();
    // Before joining and claiming: the first heartbeat lists the adopted attempts, and a new claim of one finds it.
    // Simulated attempts die with their process: the scheduler ends them as lost, as for a machine that vanished.
    const adoption = simulated ? { adopted: 0, removed: 0, done: Promise.resolve() }
      : await adoptContainers({ docker, workerId: config.workerId, runner: containers, reporter, attempts, logger });
    adopted = adoption.done;
    if (adoption.adopted + adoption.removed > 0) logger.info({ adopted: adoption.adopted, removed: adoption.removed }, 'took over containers of an earlier run');
    await heartbeat.join();
    // Commands first: a terminate for an attempt claimed at once must find a listener.
    await control.start();
    await consumer.start();
    spotNotice?.start();
  } catch (error) {
    logger.error({ err: error }, 'worker failed to join; cleaning up');
    await Promise.allSettled([consumer.close(), control.close(), heartbeat.leave()]);
    await reporter.close();
    await outbox.close();
    await liveLogs?.close();
    redis.disconnect();
    throw error;
  }
  logger.info(
    { workerId: config.workerId, pool: config.pool, vcpus: config.vcpus, memoryMiB: config.memoryMiB, gpus: gpus.length },
    'worker joined',
  );
  return { descriptor: heartbeat.snapshot(), stop: drain, left, credentialsRejected };
}
