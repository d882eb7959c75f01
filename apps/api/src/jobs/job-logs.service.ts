import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { closeRedis, RedisKeys } from '#libs/queue';
import { ApiError } from '../common/api-error.js';
import { LOGGER, REDIS } from '../infra/tokens.js';
import type { JobLogsView } from './dto/job.view.js';

const TIMINGS = {
  /** XREAD BLOCK: the longest a follower waits on Redis before it looks around again. */
  blockMs: 2000,
  /** How often Postgres is asked whether the attempt ended (the safety net for a lost end marker). */
  checkMs: 3000,
  /** A comment line is sent after this long without output, so proxies keep the connection open. */
  keepAliveMs: 15_000,
  /** How often a follower of a job not yet placed looks for its first attempt. */
  attemptPollMs: 1000,
};
/** Entries per XREAD: a replay of a long stream goes out in pieces, with the socket's back-pressure respected. */
const READ_COUNT = 500;
const ACTIVE_ATTEMPT = ['STARTING', 'RUNNING'];
const FINISHED_JOB = ['SUCCEEDED', 'FAILED'];

interface Line {
  stream: string;
  at: string;
  text: string;
}

/** Where a follower is: what it has sent, and whether it is done. */
interface Cursor {
  /** Last Redis stream entry id read. */
  lastId: string;
  /** Index of the next output line to send (the worker numbers lines as the stored copy orders them). */
  nextSeq: number;
  ended: boolean;
}

/**
 * A job's container output: the stored copy of an attempt (Postgres, written
 * from the worker's exit report), and its live copy while it runs (a Redis
 * stream the worker appends to, RedisKeys.liveLogs) served as server-sent
 * events.
 */
@Injectable()
export class JobLogsService implements BeforeApplicationShutdown {
  private readonly followers = new Set<{ stop: () => void; done: Promise<void> }>();
  private readonly timings = TIMINGS;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The stored output of one attempt (default: the latest). */
  async stored(id: string, attempt?: number): Promise<JobLogsView> {
    const [job] = await this.db.query(`SELECT attempt_count FROM jobs WHERE id = $1`, [id]);
    if (!job) throw new ApiError('JOB_NOT_FOUND', `job ${id} does not exist`);
    const which = attempt ?? (job.attempt_count > 0 ? job.attempt_count : null);
    if (which === null) return { jobId: id, attempt: null, lines: [] };
    if (which > job.attempt_count) throw new ApiError('NOT_FOUND', `job ${id} has no attempt ${which} (it has ${job.attempt_count})`);
    const lines: { stream: string; at: Date; text: string }[] = await this.db.query(
      `SELECT stream, at, text FROM job_logs WHERE job_id = $1 AND attempt = $2 ORDER BY id`, [id, which],
    );
    return { jobId: id, attempt: which, lines: lines.map((l) => ({ stream: l.stream, at: l.at.toISOString(), text: l.text })) };
  }

  /**
   * Checks the job and attempt (throwing the API's 404s while a normal error
   * reply is still possible), then returns the function that streams the
   * attempt's output to `res` as server-sent events: `event: line` per line
   * (data: JSON `{ stream, at, text }`), then `event: end` (data: `{ jobId,
   * attempt }`) once the attempt has ended, and the response ends. Without
   * an attempt yet, it waits for the first one (or for the job to finish
   * without one). A client that goes away stops it at once.
   */
  async prepareFollow(id: string, attempt?: number): Promise<(res: ServerResponse) => Promise<void>> {
    const [job] = await this.db.query(`SELECT attempt_count FROM jobs WHERE id = $1`, [id]);
    if (!job) throw new ApiError('JOB_NOT_FOUND', `job ${id} does not exist`);
    if (attempt !== undefined && attempt > job.attempt_count) {
      throw new ApiError('NOT_FOUND', `job ${id} has no attempt ${attempt} (it has ${job.attempt_count})`);
    }
    return (res) => this.follow(res, id, attempt);
  }

  /** Ends every open follower (the server is going down): each client may reconnect to another replica. */
  async beforeApplicationShutdown(): Promise<void> {
    const open = [...this.followers];
    for (const f of open) f.stop();
    await Promise.allSettled(open.map((f) => f.done));
  }

  private async follow(res: ServerResponse, jobId: string, requested: number | undefined): Promise<void> {
    const abort = new AbortController();
    const onClose = () => abort.abort();
    res.on('close', onClose);
    let connection: Redis | null = null;
    // Ends a pending XREAD BLOCK at once.
    abort.signal.addEventListener('abort', () => connection?.disconnect(), { once: true });
    const stop = () => abort.abort();
    const sse = new SseWriter(res, abort.signal, this.timings.keepAliveMs);
    let release!: () => void;
    const entry = { stop, done: new Promise<void>((resolve) => (release = resolve)) };
    this.followers.add(entry);
    try {
      sse.open();
      const attempt = requested ?? (await this.waitForAttempt(jobId, abort.signal));
      if (attempt === null) {
        await sse.event('end', { jobId, attempt: null });
        return;
      }
      await sse.comment(`job ${jobId} attempt ${attempt}`);
      const workerId = await this.liveAttemptWorker(jobId, attempt);
      if (workerId === null) {
        // Over already: Postgres has the whole stored copy.
        await this.sendStored(sse, jobId, attempt, 0);
      } else {
        connection = this.redis.duplicate({
          connectionName: 'gpubatch-api-logs-follow',
          // Above the XREAD block, or every quiet wait would time out.
          commandTimeout: this.timings.blockMs + 5000,
          lazyConnect: true,
        });
        connection.on('error', (error) => this.logger.debug({ err: error }, 'log follower connection error'));
        if (abort.signal.aborted) return;
        await this.followLive(sse, connection, workerId, jobId, attempt, abort.signal);
      }
      if (!abort.signal.aborted) await sse.event('end', { jobId, attempt });
    } catch (error) {
      if (!abort.signal.aborted) this.logger.warn({ err: error, jobId }, 'following logs failed');
    } finally {
      res.off('close', onClose);
      sse.close();
      if (connection) await closeRedis(connection);
      this.followers.delete(entry);
      release();
    }
  }

  /** Reads the live stream from its first entry until the end marker, or until Postgres says the attempt ended. */
  private async followLive(sse: SseWriter, redis: Redis, workerId: string, jobId: string, attempt: number, signal: AbortSignal): Promise<void> {
    const key = RedisKeys.liveLogs(workerId, jobId, attempt);
    const cursor: Cursor = { lastId: '0-0', nextSeq: 0, ended: false };
    let checkedAt = Date.now();
    let failures = 0;
    while (!signal.aborted && !cursor.ended) {
      try {
        await this.read(sse, redis, key, cursor, this.timings.blockMs);
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        // Redis away: the Postgres check below still ends the follow when the attempt does.
        if (failures++ === 0) this.logger.warn({ err: error, jobId, attempt }, 'reading live logs failed; retrying');
        await sleep(Math.min(1000, this.timings.checkMs), signal);
      }
      if (cursor.ended || signal.aborted) return;
      if (Date.now() - checkedAt >= this.timings.checkMs) {
        checkedAt = Date.now();
        if (await this.attemptEnded(jobId, attempt)) {
          // No end marker, yet it is over (the worker could not write it, or died): what Redis still holds, then Postgres's copy of the rest.
          await this.read(sse, redis, key, cursor, null).catch((error: unknown) =>
            this.logger.warn({ err: error, jobId, attempt }, 'reading live logs failed; serving the stored copy'));
          if (!cursor.ended) await this.sendStored(sse, jobId, attempt, cursor.nextSeq);
          return;
        }
      }
    }
  }

  /** One XREAD (blocking for blockMs, or draining what is there when null), sent on as events. */
  private async read(sse: SseWriter, redis: Redis, key: string, cursor: Cursor, blockMs: number | null): Promise<void> {
    for (;;) {
      const reply = blockMs === null
        ? await redis.xread('COUNT', READ_COUNT, 'STREAMS', key, cursor.lastId)
        : await redis.xread('COUNT', READ_COUNT, 'BLOCK', blockMs, 'STREAMS', key, cursor.lastId);
      const entries = reply?.[0]?.[1] ?? [];
      for (const [id, fields] of entries) {
        cursor.lastId = id;
        const entry = toRecord(fields);
        if (entry.end !== undefined) {
          cursor.ended = true;
          return;
        }
        const seq = Number(entry.seq);
        cursor.nextSeq = Number.isInteger(seq) ? seq + 1 : cursor.nextSeq + 1;
        await sse.event('line', { stream: entry.stream ?? 'stdout', at: entry.at ?? '', text: entry.text ?? '' });
      }
      // A blocking read returns what arrived; a draining one goes on until the stream is exhausted.
      if (blockMs !== null || entries.length < READ_COUNT) return;
    }
  }

  /** The stored lines of a finished attempt from index `from` on. */
  private async sendStored(sse: SseWriter, jobId: string, attempt: number, from: number): Promise<void> {
    const lines: { stream: string; at: Date; text: string }[] = await this.db.query(
      `SELECT stream, at, text FROM job_logs WHERE job_id = $1 AND attempt = $2 ORDER BY id OFFSET $3`, [jobId, attempt, from],
    );
    for (const l of lines) await sse.event('line', { stream: l.stream, at: l.at.toISOString(), text: l.text } satisfies Line);
  }

  /** True once the attempt is no longer STARTING or RUNNING (its stored copy is then in Postgres). */
  /** The worker of an attempt still running (its live stream is keyed by it); null once the attempt is over. */
  private async liveAttemptWorker(jobId: string, attempt: number): Promise<string | null> {
    const [row]: { status: string; worker_id: string }[] = await this.db.query(`SELECT status, worker_id FROM job_attempts WHERE job_id = $1 AND attempt = $2`, [jobId, attempt]);
    return row && ACTIVE_ATTEMPT.includes(row.status) ? row.worker_id : null;
  }

  private async attemptEnded(jobId: string, attempt: number): Promise<boolean> {
    const [row] = await this.db.query(`SELECT status FROM job_attempts WHERE job_id = $1 AND attempt = $2`, [jobId, attempt]);
    if (row) return !ACTIVE_ATTEMPT.includes(row.status);
    // Counted but not written yet cannot happen (one statement writes both); a vanished job is over too.
    const [job] = await this.db.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    return !job || FINISHED_JOB.includes(job.status);
  }

  /** The job's first attempt once it has one; null if it finishes without one (cancelled) or the client leaves. */
  private async waitForAttempt(jobId: string, signal: AbortSignal): Promise<number | null> {
    while (!signal.aborted) {
      const [job] = await this.db.query(`SELECT status, attempt_count FROM jobs WHERE id = $1`, [jobId]);
      if (!job) return null;
      if (job.attempt_count > 0) return job.attempt_count;
      if (FINISHED_JOB.includes(job.status)) return null;
      await sleep(this.timings.attemptPollMs, signal);
    }
    return null;
  }
}

/** Server-sent events on a raw response, with back-pressure and keep-alive comments. */
class SseWriter {
  private lastWrite = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly signal: AbortSignal,
    private readonly keepAliveMs: number,
  ) {}

  open(): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders();
    this.timer = setInterval(() => void this.keepAlive(), Math.max(100, Math.floor(this.keepAliveMs / 2)));
    this.timer.unref();
  }

  event(name: string, data: unknown): Promise<void> {
    return this.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  comment(text: string): Promise<void> {
    return this.write(`: ${text.replace(/[\r\n]+/g, ' ')}\n\n`);
  }

  async keepAlive(): Promise<void> {
    if (Date.now() - this.lastWrite >= this.keepAliveMs) await this.write(': keep-alive\n\n');
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (!this.res.writableEnded && !this.res.destroyed) this.res.end();
  }

  private async write(chunk: string): Promise<void> {
    if (this.signal.aborted || this.res.writableEnded || this.res.destroyed) return;
    this.lastWrite = Date.now();
    if (!this.res.write(chunk)) {
      // A slow client: wait for it to take what was sent (or to leave).
      await Promise.race([once(this.res, 'drain'), once(this.res, 'close')]).catch(() => {});
    }
  }
}

function toRecord(fields: string[]): Record<string, string | undefined> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]] = fields[i + 1];
  return record;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
