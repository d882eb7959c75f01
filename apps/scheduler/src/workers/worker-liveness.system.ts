import { decideLiveness, HeartbeatSightings } from '#libs/core';
import type { Logger } from '#libs/log';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import type { WorkerRegistry } from './worker-registry.js';

/**
 * Reads the heartbeats and judges which workers are LOST, by when this
 * scheduler last saw each entry change: never the worker's own clock. After
 * a failed read (a Redis outage) and at the start of a leadership, every
 * worker gets a full timeout before it can be LOST.
 */
export class WorkerLivenessSystem implements SchedulerSystem {
  readonly name = 'worker liveness';
  readonly essential = true;
  readonly sightings = new HeartbeatSightings();
  private redisOutageEndedAt: number | null = null;
  private readFailing = false;
  private lostNow: ReadonlySet<string> = new Set();
  private returnedNow: string[] = [];

  constructor(
    private readonly registry: WorkerRegistry,
    private readonly workerTimeoutMs: number,
    private readonly leadingSince: number,
    private readonly logger: Logger,
  ) {}

  async run(now: number): Promise<boolean> {
    let reading;
    try {
      reading = await this.registry.read();
    } catch (err) {
      if (!this.readFailing) this.logger.warn({ err }, 'cannot read heartbeats: no worker is judged LOST until reads come back');
      this.readFailing = true;
      throw err;
    }
    if (this.readFailing) {
      this.readFailing = false;
      this.redisOutageEndedAt = now;
      this.logger.info('heartbeats readable again: every worker gets a full timeout');
    }
    this.sightings.observe(reading.descriptors.map((d) => ({ workerId: d.id, heartbeatAt: d.heartbeatAt, attempts: d.attempts, claimer: d.claimer })), now);
    const lost = decideLiveness(this.sightings.all(), this.registry.recordedLost(), now, this.workerTimeoutMs, this.redisOutageEndedAt);
    for (const id of lost) this.sightings.markLost(id);
    this.lostNow = lost;
    const { changed, returned } = await this.registry.apply(reading, lost, now);
    this.returnedNow = returned;
    return changed;
  }

  /** Workers judged LOST by the latest reading. */
  lost(): ReadonlySet<string> {
    return this.lostNow;
  }

  /** LOST or departed workers heard from again in the latest reading. */
  returned(): readonly string[] {
    return this.returnedNow;
  }

  /** When silence starts to count: the start of this leadership, or the end of the last heartbeat read outage. */
  watchingSince(): number {
    return Math.max(this.leadingSince, this.redisOutageEndedAt ?? Number.NEGATIVE_INFINITY);
  }
}
