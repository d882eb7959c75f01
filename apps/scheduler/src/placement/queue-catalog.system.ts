import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { Cadence, type CapacityType } from '#libs/core';
import type { Logger } from '#libs/log';
import { closeRedis, createRedis, RedisKeys } from '#libs/queue';
import type { SchedulerSystem } from '../coordinator/scheduler-system.js';
import type { QueueRow } from './placement-pass.js';

/** A reading stands this long at most without a change message: one lost with Redis, or a change made in SQL, is seen by then. */
export const CATALOG_REREAD_MS = 2000;

/**
 * The job queues and priced pools: intake follows the queues, placement uses
 * both. They change rarely and a pass runs on every submit, so a reading is
 * kept until the API says the catalog changed (the channel its own caches
 * hear) or CATALOG_REREAD_MS has passed. Until the channel is heard (and
 * after it reconnects) every pass reads.
 */
export class QueueCatalogSystem implements SchedulerSystem {
  readonly name = 'queue catalog';
  readonly essential = true;
  private seen = '';
  private stale = true;
  private readonly reread: Cadence;
  private subscriber: Redis | undefined;
  private subscribed = false;
  queues: QueueRow[] = [];
  capacityTypes: ReadonlyMap<string, CapacityType> = new Map();
  /** Pools whose admins allow multi-node jobs (host-network containers). */
  multiNodePools: ReadonlySet<string> = new Set();

  constructor(
    private readonly db: DataSource,
    startedAt: number,
    /** Called when a change is announced: a new queue is followed at once, not at the next timer pass. */
    private readonly onChange: () => void = () => {},
  ) {
    this.reread = new Cadence(CATALOG_REREAD_MS, startedAt);
  }

  /** Starts hearing the API's change announcements (not awaited: a scheduler starts while Redis is away). */
  listen(redisUrl: string, logger: Logger): void {
    const subscriber = createRedis(redisUrl, 'scheduler-catalog');
    this.subscriber = subscriber;
    subscriber.on('message', () => {
      this.stale = true;
      this.onChange();
    });
    const channel = RedisKeys.catalogChanged(subscriber.options.db);
    // At each (re)connection: what changed while it was away was not heard, and nothing is until the subscription is
    // confirmed (ioredis subscribes again by itself too; a second SUBSCRIBE is harmless).
    subscriber.on('ready', () => {
      this.subscribed = false;
      this.stale = true;
      subscriber.subscribe(channel).then(
        () => {
          this.subscribed = true;
          this.stale = true;
        },
        (err: Error) => {
          if (this.subscriber === subscriber) logger.warn({ err }, 'catalog change channel not subscribed; the catalog is read every pass');
        },
      );
    });
    subscriber.on('error', (err: Error) => logger.debug({ err }, 'catalog subscriber error'));
  }

  /** True while announcements are heard: subscribed on this connection, and connected. */
  get listening(): boolean {
    return this.subscribed && this.subscriber?.status === 'ready';
  }

  async run(now: number): Promise<boolean> {
    const due = this.reread.due(now);
    if (this.listening && !this.stale && !due) return false;
    // Cleared before the read: an announcement that comes during it asks for another.
    this.stale = false;
    let queues: QueueRow[];
    let pools: { name: string; capacity_type: CapacityType; allow_multi_node: boolean }[];
    try {
      [queues, pools] = await Promise.all([
        this.db.query(`SELECT name, priority, pools, scheduling_policy, prefer_spot_for_interruptible, preempt_lower_priority FROM job_queues`),
        this.db.query(`SELECT name, capacity_type, allow_multi_node FROM pools`),
      ]);
    } catch (err) {
      this.stale = true;
      throw err;
    }
    this.queues = queues;
    this.capacityTypes = new Map(pools.map((p) => [p.name, p.capacity_type]));
    this.multiNodePools = new Set(pools.filter((p) => p.allow_multi_node).map((p) => p.name));
    const seen = JSON.stringify([queues, pools]);
    const changed = seen !== this.seen;
    this.seen = seen;
    return changed;
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.subscribed = false;
    if (subscriber) await closeRedis(subscriber);
  }
}
