import type Docker from 'dockerode';
import type { Logger } from '#libs/log';
import type { AttemptRegistry } from '../control/attempt-registry.js';
import type { EventReporter } from '../reporter/event-reporter.js';
import { reportRun } from '../reporter/report-run.js';
import type { ContainerRunner } from './container-runner.js';
import { Labels, readAttemptLabels } from './container-spec.js';
import { dockerStatus } from './docker-error.js';

export interface AdoptionContext {
  docker: Docker;
  workerId: string;
  runner: ContainerRunner;
  reporter: EventReporter;
  attempts: AttemptRegistry;
  logger: Logger;
}

export interface Adoption {
  /** Attempts taken over (each in the registry from now until its exit is reported). */
  adopted: number;
  /** Containers removed because their labels did not name an attempt. */
  removed: number;
  /** Resolves once every adopted attempt has ended and been reported. */
  done: Promise<void>;
}

/**
 * Takes over the containers an earlier process of this worker left behind
 * (it was killed, or the machine restarted): each one's attempt is claimed in
 * the registry before this resolves, so a dispatch or a terminate that comes
 * after finds it; then each is watched to its exit (or read, if it has
 * exited) and reported like an attempt of this process. Everything needed
 * comes from the container's labels and inspect: no Redis.
 */
export async function adoptContainers(context: AdoptionContext): Promise<Adoption> {
  const { docker, workerId, runner, reporter, attempts, logger } = context;
  const found = await docker.listContainers({ all: true, filters: { label: [`${Labels.workerId}=${workerId}`] } });
  const runs: Promise<void>[] = [];
  let removed = 0;
  for (const summary of found) {
    const container = docker.getContainer(summary.Id);
    const identity = readAttemptLabels(summary.Labels);
    if (!identity) {
      logger.warn({ containerId: summary.Id, labels: summary.Labels }, 'removing a container of this worker whose labels name no attempt');
      await container.remove({ force: true, v: true }).catch((error: unknown) => {
        if (dockerStatus(error) !== 404) logger.error({ err: error, containerId: summary.Id }, 'cannot remove a container with malformed labels');
      });
      removed++;
      continue;
    }
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (error) {
      if (dockerStatus(error) === 404) continue;
      throw error;
    }
    if (info.State.Status === 'removing' || attempts.whenReleased(identity.jobId, identity.attempt)) continue;
    const claimed = attempts.claim(identity.jobId, identity.attempt);
    const log = logger.child({ jobId: identity.jobId, attempt: identity.attempt, containerId: summary.Id });
    log.info({ status: info.State.Status }, 'adopting a container left by an earlier run of this worker');
    runs.push(
      reportRun(reporter, { ...identity, workerId }, log, (hooks) =>
        runner.adopt({ ...identity, container, state: info.State }, { ...hooks, signal: claimed.signal }),
      )
        .catch((error: Error) => log.error({ err: error }, 'reporting an adopted attempt failed'))
        .finally(() => claimed.release()),
    );
  }
  return { adopted: runs.length, removed, done: Promise.all(runs).then(() => undefined) };
}
