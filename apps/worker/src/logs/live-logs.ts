import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { closeRedis, RedisKeys, type LogLine } from '#libs/queue';
import { LogCollector } from '../runner/log-collector.js';

export interface LiveLogOptions {
  /** The same per-attempt cap as the stored output: the live copy is never longer. */
  maxBytes: number;
  /** Entries a stream keeps (approximately: MAXLEN ~); a follower replays at most these. */
  maxEntries?: number;
  /** Life of the stream once the attempt has ended (the output is in Postgres by then). */
  endedTtlSeconds?: number;
  /** Life of the stream while lines flow, refreshed each minute: a worker that dies mid-run leaves nothing for good. */
  runningTtlSeconds?: number;
  /** Most the end of an attempt waits on the live copy (its last lines, the end marker) before letting the attempt go on. */
  settleMs?: number;
}

const DEFAULTS = { maxEntries: 5000, endedTtlSeconds: 3600, runningTtlSeconds: 24 * 3600, settleMs: 2000 };
const REFRESH_TTL_MS = 60_000;

/**
 * Best-effort live copy of each attempt's output in a Redis stream
 * (RedisKeys.liveLogs), for `GET /jobs/{id}/logs?follow=true`. It never
 * slows or fails an attempt: every Redis error is logged (once per attempt)
 * and ignored, no Redis command is awaited while the container runs, and the
 * end of an attempt waits on it for at most `settleMs`. It has its own
 * connection, one that fails fast, so an outage cannot pile commands up.
 */
export class LiveLogs {
  private readonly options: Required<LiveLogOptions>;

  constructor(
    private readonly redis: Redis,
    private readonly workerId: string,
    options: LiveLogOptions,
    private readonly logger: Logger,
  ) {
    this.options = { ...DEFAULTS, ...options };
    // Failures surface on the commands (logged once per attempt); the connection's own errors would only repeat them.
    this.redis.on('error', (error) => this.logger.debug({ err: error }, 'live logs connection error'));
  }

  /** Starts the live copy of one attempt (an earlier claim's copy is dropped). */
  open(jobId: string, attempt: number): LiveAttemptLog {
    return new LiveAttemptLog(this.redis, RedisKeys.liveLogs(this.workerId, jobId, attempt), this.options, this.logger.child({ jobId, attempt }));
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }
}

/** The live copy of one attempt's output. */
export class LiveAttemptLog {
  private readonly collector: LogCollector;
  private seq = 0;
  private warned = false;
  private lastTtlAt = 0;
  private stream: Readable | null = null;
  private following: Promise<void> | null = null;
  private ending: Promise<void> | null = null;
  private closed = false;
  /** The last command sent: commands on one connection complete in order, so once it settles all have. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly options: Required<LiveLogOptions>,
    private readonly logger: Logger,
  ) {
    this.collector = new LogCollector(options.maxBytes, { retain: false, onLine: (line) => this.append(line) });
    this.send(() => this.redis.del(this.key));
  }

  /** Follows the started container's output into the stream; returns at once, never throws. */
  follow(container: Docker.Container): void {
    if (this.following || this.ending) return;
    this.following = (async () => {
      // From the container's first byte (not just what comes next), with Docker's timestamps, as the stored copy.
      const stream = (await container.logs({ follow: true, stdout: true, stderr: true, timestamps: true })) as Readable;
      this.stream = stream;
      if (this.ending) {
        stream.destroy();
        return;
      }
      await new Promise<void>((resolve) => {
        stream.on('data', (chunk: Buffer) => {
          this.collector.push(chunk);
          if (this.collector.truncated) stream.destroy();
        });
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', (error) => {
          if (!this.collector.truncated && !stream.destroyed) this.logger.warn({ err: error }, 'following container output failed');
          resolve();
        });
      });
    })().catch((error: unknown) => {
      this.logger.warn({ err: error }, 'cannot follow container output; no live logs for this attempt');
    });
  }

  /**
   * Once the attempt is over: waits (bounded) for the container's output to
   * be read to its end, sends the last lines, the end marker and the TTL.
   * Idempotent, never throws, never takes much more than settleMs.
   */
  end(): Promise<void> {
    this.ending ??= (async () => {
      const deadline = Date.now() + this.options.settleMs;
      if (this.following) {
        const settled = await within(this.following, this.options.settleMs);
        if (!settled) {
          this.logger.warn({ settleMs: this.options.settleMs }, 'container output still open at the end of the attempt; live copy cut');
        }
        this.stream?.destroy();
      }
      this.collector.finish();
      this.closed = true;
      this.send(() => this.redis.xadd(this.key, 'MAXLEN', '~', String(this.options.maxEntries), '*', 'end', new Date().toISOString(), 'lines', String(this.seq)));
      this.send(() => this.redis.expire(this.key, this.options.endedTtlSeconds));
      await within(this.last, Math.max(250, deadline - Date.now()));
    })();
    return this.ending;
  }

  private append(line: LogLine): void {
    if (this.closed) return;
    const seq = this.seq++;
    this.send(() => this.redis.xadd(
      this.key, 'MAXLEN', '~', String(this.options.maxEntries), '*',
      'stream', line.stream, 'at', line.at, 'text', line.text, 'seq', String(seq),
    ));
    if (Date.now() - this.lastTtlAt >= REFRESH_TTL_MS) {
      this.lastTtlAt = Date.now();
      this.send(() => this.redis.expire(this.key, this.options.runningTtlSeconds));
    }
  }

  private send(command: () => Promise<unknown>): void {
    let sent: Promise<unknown>;
    try {
      sent = command();
    } catch (error) {
      sent = Promise.reject(error);
    }
    this.last = sent.catch((error: unknown) => {
      if (this.warned) return;
      this.warned = true;
      this.logger.warn({ err: error, key: this.key }, 'writing live logs to Redis failed; the attempt goes on (its stored logs are unaffected)');
    });
  }
}

/** true if `promise` settles within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
