import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '#libs/log';
import { attemptKey, eventJobId, JobIds, QueueNames, signReport, type WorkerEvent } from '#libs/queue';
import type { Outbox, OutboxEntry } from './outbox.js';

/**
 * Options of an attempt report on the events queue. Completed jobs stay an
 * hour so the outbox sees them recorded (a job that vanished is re-added).
 * The scheduler's recording fails while Postgres is down: it is retried every
 * 2 s for 15 minutes, and after that the outbox retries it again.
 */
export const ATTEMPT_REPORT_OPTIONS: JobsOptions = {
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 24 * 3600 },
  attempts: 450,
  backoff: { type: 'fixed', delay: 2000 },
};

/** Wake-ups (worker-changed): not kept in the outbox, a lost one only delays a pass. */
const NOTICE_OPTIONS: JobsOptions = { removeOnComplete: true, attempts: 8, backoff: { type: 'exponential', delay: 500 } };

/** Where a report is in the events queue (waiting: there and not yet recorded, whether queued or being recorded). */
type ReportState = 'completed' | 'failed' | 'delayed' | 'waiting' | 'unknown';

/** States in which a RUNNING report is not ahead of a newly added exit in the queue. */
const NOT_AHEAD = new Set<ReportState>(['failed', 'delayed', 'unknown']);

/** The reply codes of REPORT_STATES_LUA, by value. */
const STATE_CODES: ReportState[] = ['unknown', 'completed', 'failed', 'delayed', 'waiting'];

/**
 * Where each report is in the events queue, atomically and in one command:
 * KEYS are the completed, failed and delayed sets then each report's job
 * hash, ARGV the report ids; the reply is one code per report (STATE_CODES).
 */
const REPORT_STATES_LUA = `
local out = {}
for i = 1, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) then out[i] = 1
  elseif redis.call('ZSCORE', KEYS[2], id) then out[i] = 2
  elseif redis.call('ZSCORE', KEYS[3], id) then out[i] = 3
  elseif redis.call('EXISTS', KEYS[3 + i]) == 1 then out[i] = 4
  else out[i] = 0 end
end
return out`;

/** Reports asked about in one call: a long outbox after an outage must not hold Redis for long. */
const STATES_CHUNK = 500;

type StatesCommand = (numKeys: number, ...args: string[]) => Promise<number[]>;

export interface EventReporterOptions {
  /**
   * How often the outbox is compared with the events queue. A pass asks only
   * about reports sent at least half of this ago (the scheduler has mostly
   * recorded them by then), and those left by an earlier process.
   */
  syncIntervalMs: number;
  /** The key attempt reports are signed with (from the join); null or absent: unsigned (dev mode). */
  signingKey?: string | null;
}

/**
 * Producer side of the events queue: what this worker tells the scheduler.
 * Attempt reports go to the outbox first, then to the queue; a periodic pass
 * deletes the ones recorded (job completed), re-adds the ones Redis lost and
 * retries the ones whose recording failed for good.
 */
export class EventReporter {
  private readonly queue: Queue<WorkerEvent>;
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;
  private readonly states: StatesCommand;
  /** When this process added each report it keeps (ms); one left by an earlier process is not here. */
  private readonly sentAt = new Map<string, number>();
  /**
   * RUNNING reports this process added and no pass has since seen fail, be
   * retried or vanish: ahead of their exit in the queue without asking Redis.
   */
  private readonly runningAhead = new Set<string>();

  /**
   * `connection` should be a consumer connection (maxRetriesPerRequest: null):
   * an add then waits out a Redis blip instead of failing.
   */
  constructor(
    connection: Redis,
    private readonly outbox: Outbox,
    private readonly options: EventReporterOptions,
    private readonly logger: Logger,
  ) {
    this.queue = new Queue<WorkerEvent>(QueueNames.events, { connection });
    const commands = connection as unknown as { gpubatchReportStates?: StatesCommand };
    if (!commands.gpubatchReportStates) connection.defineCommand('gpubatchReportStates', { lua: REPORT_STATES_LUA });
    this.states = commands.gpubatchReportStates!.bind(connection);
  }

  /** Resolves once the report is on disk and (unless it must wait for its RUNNING) added to the queue. */
  async report(event: WorkerEvent): Promise<void> {
    const id = eventJobId(event);
    if (!id || (event.type !== 'attempt-running' && event.type !== 'attempt-exited')) {
      // A pulling notice speaks for an attempt: signed like its other reports.
      await this.queue.add(event.type, event.type === 'attempt-pulling' ? this.signed(event) : event, NOTICE_OPTIONS);
      return;
    }
    let entry: OutboxEntry;
    try {
      entry = await this.outbox.put(id, event);
    } catch (error) {
      // Better sent without a copy on disk than not at all.
      this.logger.error({ err: error, id, dir: this.outbox.dir }, 'cannot write a report to the outbox; sending it without a copy');
      await this.queue.add(event.type, this.signed(event), { ...ATTEMPT_REPORT_OPTIONS, jobId: id });
      return;
    }
    try {
      await this.send(entry, new Map());
    } catch (error) {
      this.logger.warn({ err: error, id }, 'adding a report to the events queue failed; the outbox will send it again');
    }
  }

  /** True while an exit report of this attempt is kept (not yet recorded). */
  hasExitReport(jobId: string, attempt: number): boolean {
    return this.outbox.get(JobIds.event(jobId, attempt, 'exited')) !== undefined;
  }

  /** The attempts whose exit report is not yet recorded, as attemptKey: the worker still holds them. */
  unrecordedExits(): string[] {
    return this.outbox.list().filter((e) => e.event.type === 'attempt-exited').map((e) => attemptKey(e.event.jobId, e.event.attempt));
  }

  /** Starts the periodic pass (after a first one now). */
  async start(): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => {
      if (this.outbox.size === 0) return;
      this.sync().catch((error: Error) => this.logger.warn({ err: error }, 'outbox pass failed'));
    }, this.options.syncIntervalMs);
  }

  /** One pass over the outbox, oldest first; passes never overlap. */
  sync(): Promise<void> {
    this.syncing ??= this.pass().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.syncing?.catch(() => undefined);
    await this.queue.close();
  }

  private async pass(): Promise<void> {
    const asked = Date.now() - this.options.syncIntervalMs / 2;
    const entries = this.outbox.list().filter((e) => (this.sentAt.get(e.id) ?? 0) <= asked);
    const states = await this.reportStates(entries.map((e) => e.id));
    for (const entry of entries) {
      const state = states.get(entry.id)!;
      if (NOT_AHEAD.has(state)) this.runningAhead.delete(entry.id);
      if (state === 'completed') {
        this.forget(entry);
      } else if (state === 'unknown') {
        this.logger.warn({ id: entry.id }, 'a report not yet recorded is missing from the events queue; adding it again');
        await this.send(entry, states);
      } else if (state === 'failed') {
        this.logger.warn({ id: entry.id }, 'recording a report failed for good; retrying it');
        const job = await this.queue.getJob(entry.id);
        // Signed again, with this process's key: a report signed before a re-join (new key) or one some other
        // process put under this id (refused by the scheduler) is replaced by ours.
        await job?.updateData(this.signed(entry.event) as never);
        await job?.retry('failed');
        states.set(entry.id, 'waiting');
      }
    }
  }

  private forget(entry: OutboxEntry): void {
    this.outbox.remove(entry);
    this.sentAt.delete(entry.id);
    this.runningAhead.delete(entry.id);
  }

  /**
   * Where each report is in the events queue, atomically and in one command
   * per chunk (REPORT_STATES_LUA): completed, failed, delayed (a recording
   * being retried), waiting (there, still to be recorded) or unknown (not
   * there). BullMQ's own getJobState costs a Lua call per report that scans
   * the queue's wait list, which grows with exactly the backlog that makes
   * outboxes long.
   */
  private async reportStates(ids: string[]): Promise<Map<string, ReportState>> {
    const states = new Map<string, ReportState>();
    const { completed, failed, delayed } = this.queue.keys;
    for (let from = 0; from < ids.length; from += STATES_CHUNK) {
      const chunk = ids.slice(from, from + STATES_CHUNK);
      const codes = await this.states(3 + chunk.length, completed, failed, delayed, ...chunk.map((id) => this.queue.toKey(id)), ...chunk);
      chunk.forEach((id, i) => states.set(id, STATE_CODES[codes[i]] ?? 'unknown'));
    }
    return states;
  }

  /**
   * Adds the report to the queue. An exit waits (in the outbox) while its
   * RUNNING report is not ahead of it in the queue: the scheduler records
   * reports in queue order (batches one after another, a batch in the order
   * it took its reports), so RUNNING is recorded first.
   */
  private async send(entry: OutboxEntry, states: Map<string, ReportState>): Promise<void> {
    const { event } = entry;
    if (event.type === 'attempt-exited') {
      const runningId = JobIds.event(event.jobId, event.attempt, 'running');
      // Kept, so maybe not recorded: asked unless this process added it and no pass has seen it fall behind since.
      if (this.outbox.get(runningId) && !this.runningAhead.has(runningId)) {
        const state = states.get(runningId) ?? (await this.reportStates([runningId])).get(runningId)!;
        if (NOT_AHEAD.has(state)) return;
      }
    }
    await this.queue.add(event.type, this.signed(event), { ...ATTEMPT_REPORT_OPTIONS, jobId: entry.id });
    states.set(entry.id, 'waiting');
    if (!this.sentAt.has(entry.id)) this.sentAt.set(entry.id, Date.now());
    if (event.type === 'attempt-running' && this.outbox.get(entry.id) === entry) this.runningAhead.add(entry.id);
  }

  /** Signed at sending, never on disk: a worker that joins again (new key) sends its outbox with the new key. */
  private signed(event: WorkerEvent): WorkerEvent {
    return this.options.signingKey ? signReport(event, this.options.signingKey) : event;
  }
}
