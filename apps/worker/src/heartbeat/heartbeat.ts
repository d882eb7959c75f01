import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { RedisKeys, type WorkerDescriptor, type WorkerState } from '#libs/queue';
import type { EventReporter } from '../reporter/event-reporter.js';
import { workerMetrics } from '../metrics/worker-metrics.js';

/**
 * One heartbeat in one command. KEYS[1] is the worker's key, and KEYS[2] the
 * pool registry for a worker that registers itself (a joined worker may not
 * write it). ARGV: the descriptor, the worker id, '1' to ask whether a drain
 * was requested, the drain-request set, the pool. The drain set is named in
 * ARGV, not KEYS: a joined worker may only read it, and Redis refuses a
 * script any declared key its user cannot write. Returns 1 when a drain was
 * asked for.
 */
const BEAT_LUA = `
redis.call('SET', KEYS[1], ARGV[1])
if #KEYS > 1 then redis.call('HSET', KEYS[2], ARGV[2], ARGV[5]) end
if ARGV[3] == '1' then return redis.call('SISMEMBER', ARGV[4], ARGV[2]) end
return 0`;

type BeatCommand = (...args: string[]) => Promise<number>;

export interface HeartbeatOptions {
  intervalMs: number;
  /** Called once when an operator asks this worker to drain (POST /workers/{id}/drain). */
  onDrainRequested: () => void;
  /** The attempts this worker holds right now (attemptKey), listed in every heartbeat. */
  attempts: () => string[];
  /** Dev mode only: add this worker to the pool registry itself (a joined worker was added by the control plane). */
  registerSelf?: boolean;
}

/**
 * Keeps this worker's descriptor fresh in its own heartbeat key, announces joins
 * and leaves, and notices drain requests.
 */
export class Heartbeat {
  private readonly descriptor: WorkerDescriptor;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  private drainRequested = false;
  private busy = false;
  private readonly beatCommand: BeatCommand;

  constructor(
    private readonly redis: Redis,
    private readonly reporter: EventReporter,
    descriptor: WorkerDescriptor,
    private readonly options: HeartbeatOptions,
    private readonly logger: Logger,
  ) {
    this.descriptor = { ...descriptor };
    const commands = redis as unknown as { gpubatchBeat?: BeatCommand };
    if (!commands.gpubatchBeat) redis.defineCommand('gpubatchBeat', { lua: BEAT_LUA });
    this.beatCommand = commands.gpubatchBeat!.bind(redis);
  }

  /** A copy of what the last heartbeat wrote. */
  snapshot(): WorkerDescriptor {
    const { attempts } = this.descriptor;
    return { ...this.descriptor, gpus: this.descriptor.gpus.map((g) => ({ ...g })), ...(attempts ? { attempts: [...attempts] } : {}) };
  }

  /** First write (errors propagate: a worker that cannot join must not start), then the timer. */
  async join(): Promise<void> {
    await this.write();
    await this.reporter.report({ type: 'worker-changed', workerId: this.descriptor.id });
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
  }

  async setState(state: WorkerState): Promise<void> {
    if (this.descriptor.state === state) return;
    this.descriptor.state = state;
    await this.inFlight;
    await this.write();
  }

  /** Stops beating and removes this worker from the pool. */
  async leave(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A tick still writing would otherwise re-add the field after the HDEL.
    await this.inFlight;
    const multi = this.redis.multi().del(RedisKeys.worker(this.descriptor.id));
    // The request is fulfilled once we leave; a restarted worker with this id joins normally.
    // A joined worker may only read the drain set: the scheduler clears the request when it records the departure.
    if (this.drainRequested && this.options.registerSelf) multi.srem(RedisKeys.drainRequests, this.descriptor.id);
    await multi.exec();
    await this.reporter.report({ type: 'worker-changed', workerId: this.descriptor.id });
  }

  private lastWrittenAt: number | null = null;

  private tick(): void {
    // With a consumer connection a command waits out a Redis outage; don't pile ticks up behind it.
    if (this.busy) return;
    this.busy = true;
    this.inFlight = this.beat()
      .catch((error: Error) => {
        workerMetrics.errors.inc({ kind: 'heartbeat' });
        this.logger.warn({ err: error }, 'heartbeat failed');
      })
      .finally(() => {
        this.busy = false;
      });
  }

  private async beat(): Promise<void> {
    const askDrain = !this.drainRequested && this.timer !== null;
    if ((await this.write(askDrain)) && askDrain && this.timer !== null) {
      this.drainRequested = true;
      this.logger.info({ workerId: this.descriptor.id }, 'drain requested');
      this.options.onDrainRequested();
    }
  }

  /** Writes the descriptor (and, when asked, reads whether a drain was requested) in one round trip. */
  private async write(askDrain = false): Promise<boolean> {
    this.descriptor.heartbeatAt = Date.now();
    this.descriptor.attempts = [...new Set(this.options.attempts())].sort();
    const json = JSON.stringify(this.descriptor);
    const keys = this.options.registerSelf ? [RedisKeys.worker(this.descriptor.id), RedisKeys.workerPools] : [RedisKeys.worker(this.descriptor.id)];
    const drain = await this.beatCommand(
      String(keys.length), ...keys, json, this.descriptor.id, askDrain ? '1' : '0', RedisKeys.drainRequests, this.descriptor.pool,
    );
    this.lastWrittenAt = this.descriptor.heartbeatAt;
    return drain === 1;
  }

  /** When the last heartbeat reached Redis (ms), or null before the first. */
  lastWritten(): number | null {
    return this.lastWrittenAt;
  }
}
