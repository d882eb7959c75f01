import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { RedisKeys } from '#libs/queue';

// Renew or release only while we still hold the lease (compare-and-act).
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface LeaseCallbacks {
  onAcquired(): Promise<void>;
  onLost(): Promise<void>;
}

/**
 * One active scheduler: the holder of a Redis key with a TTL. Standbys retry
 * every `renewMs`. Renewals run on their own, never behind the leader's
 * start-up, and `isValid()` turns false once the last successful renewal is
 * older than the TTL: the leader must not write placements after that,
 * since a standby may hold the key by then.
 */
export class LeaderLease {
  readonly holderId = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private leader = false;
  private busy = false;
  private starting: Promise<void> | undefined;
  private validUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly callbacks: LeaseCallbacks,
    private readonly logger: Logger,
    // Short, so a killed leader is replaced within seconds: safe because Postgres fences every write by the leader's epoch.
    private readonly ttlMs = 6_000,
    private readonly renewMs = 1_500,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  /** Still certainly the only leader: the key was renewed less than a TTL ago. */
  isValid(): boolean {
    return this.leader && Date.now() < this.validUntil;
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.renewMs);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const sentAt = Date.now();
      if (this.leader) {
        const renewed = await this.redis.eval(RENEW, 1, RedisKeys.schedulerLease, this.holderId, String(this.ttlMs)).catch(() => 0);
        if (renewed === 1) this.validUntil = sentAt + this.ttlMs;
        else await this.stepDown('lease renewal failed');
      } else {
        const acquired = await this.redis.set(RedisKeys.schedulerLease, this.holderId, 'PX', this.ttlMs, 'NX').catch(() => null);
        if (acquired === 'OK') {
          this.leader = true;
          this.validUntil = sentAt + this.ttlMs;
          this.logger.info({ holderId: this.holderId }, 'became scheduler leader');
          // Not awaited: a long rebuild must not hold up the renewals.
          this.starting = this.callbacks.onAcquired()
            .catch((err: Error) => this.logger.error({ err }, 'leader start-up failed'))
            .finally(() => (this.starting = undefined));
        }
      }
    } catch (err) {
      this.logger.error({ err }, 'leader lease tick failed');
      if (this.leader) await this.stepDown('error while leading');
    } finally {
      this.busy = false;
    }
  }

  /** Gives up leading at once, e.g. when Postgres says a newer leader took over (fenced). */
  async resign(why: string): Promise<void> {
    if (!this.leader) return;
    await this.stepDown(why);
    await this.redis.eval(RELEASE, 1, RedisKeys.schedulerLease, this.holderId).catch(() => undefined);
  }

  private async stepDown(why: string): Promise<void> {
    this.leader = false;
    this.validUntil = 0;
    this.logger.warn({ why }, 'stepping down as scheduler leader');
    await this.starting;
    await this.callbacks.onLost();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    if (this.leader) {
      this.leader = false;
      this.validUntil = 0;
      await this.starting;
      await this.callbacks.onLost();
      await this.redis.eval(RELEASE, 1, RedisKeys.schedulerLease, this.holderId).catch(() => undefined);
    }
  }
}
