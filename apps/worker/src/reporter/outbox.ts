import { close, fdatasync, fsync, open, writeSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { encodeRecord, liveReports, parseSegment, SEGMENT_FILE, segmentName, type AttemptReport, type SegmentRecord } from './outbox-segment.js';

export type { AttemptReport } from './outbox-segment.js';

export interface OutboxEntry {
  /** Order of writing: a pass re-sends in this order, so an attempt's RUNNING stays before its exit. */
  seq: number;
  /** The events queue job id (eventJobId). */
  id: string;
  event: AttemptReport;
  /** The segment that holds it (-1 until written). */
  segment: number;
}

export interface OutboxOptions {
  /** A segment is closed for new reports once it has this many bytes; its reports still kept move to the next one. */
  segmentBytes?: number;
  /** Told about a cleanup that failed (a dead segment not deleted): nothing is lost, the next start compacts it. */
  onError?: (error: Error, what: string) => void;
}

/** Layout of an earlier version: one file per report, `<seq, 12 digits>.<event job id>.json` holding `{ v: 1, id, event }`. */
const LEGACY_FILE = /^(\d{12})\.(.+)\.json$/;

const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;

interface Batch {
  entries: OutboxEntry[];
  done: string[];
  waiters: { resolve: () => void; reject: (error: Error) => void }[];
}

/**
 * Reports on the worker's disk until the scheduler has recorded them, as an
 * append-only log of segments (outbox-segment.ts). Reports put in the same
 * turn of the event loop, or while a write is in flight, are written together
 * with one write and one fdatasync (group commit); a new segment's directory
 * entry is fsync'd once. Every line carries a checksum, so after a crash a
 * report is whole or absent. Recorded reports are forgotten with a line of
 * their ids, written with the next write and never synced by itself (a lost
 * one only sends a recorded report again, which the scheduler ignores); a
 * segment whose reports are all recorded is deleted. This process is the only
 * writer of its directory; the index is kept in memory.
 */
export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();
  /** How many kept reports each segment still holds. */
  private readonly liveIn = new Map<number, number>();
  private readonly segmentBytes: number;
  private readonly onError: (error: Error, what: string) => void;
  private nextSeq = 1;
  private nextSegment = 1;
  /** The segment being appended to: its number, descriptor, size; null until the first write. */
  private current: { n: number; fd: number; bytes: number } | null = null;
  private batch: Batch = { entries: [], done: [], waiters: [] };
  private writing: Promise<void> | null = null;
  /** Reports put but not yet on disk, with the write that takes them there. */
  private readonly unwritten = new Map<OutboxEntry, Promise<void>>();
  private scheduled = false;
  private closed = false;
  /** Files that could not be read at start-up, renamed aside for an operator. */
  readonly unreadable: string[] = [];
  /** Bytes dropped at the end of segments at start-up: writes a crash cut short, never acknowledged. */
  tornBytes = 0;
  /** Writes that reached the disk with an fdatasync (for tests and metrics: reports per sync). */
  syncs = 0;

  constructor(readonly dir: string, options: OutboxOptions = {}) {
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.onError = options.onError ?? (() => undefined);
  }

  /**
   * Creates the directory and loads what an earlier process of this worker
   * left, then compacts it: the reports still kept are written to a new
   * segment (synced) before the old files go, so a crash in between keeps them.
   */
  async open(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const names = (await fs.readdir(this.dir)).sort();
    const records: SegmentRecord[] = [];
    const old: string[] = [];
    const damaged: string[] = [];
    let maxSeq = 0;
    // Files of the one-file-per-report layout come first: they were written before any segment.
    for (const name of names) {
      const file = path.join(this.dir, name);
      if (name.endsWith('.tmp')) {
        // A write of the earlier layout cut short by a crash: its report was never acknowledged as written.
        await fs.rm(file, { force: true });
        continue;
      }
      const match = LEGACY_FILE.exec(name);
      if (!match) continue;
      try {
        const stored = JSON.parse(await fs.readFile(file, 'utf8')) as { v?: number; id?: string; event?: AttemptReport };
        if (stored.v !== 1 || stored.id !== match[2] || typeof stored.event?.type !== 'string') throw new Error('not an outbox entry');
        records.push({ v: 2, seq: Number(match[1]), id: stored.id, event: stored.event });
        old.push(file);
      } catch {
        await this.setAside(file);
      }
    }
    for (const name of names) {
      // Numbers of segments set aside are not used again: a later one set aside must not replace it.
      const numbered = /^(\d{12})\.log/.exec(name);
      if (numbered) this.nextSegment = Math.max(this.nextSegment, Number(numbered[1]) + 1);
      const match = SEGMENT_FILE.exec(name);
      if (!match) continue;
      const file = path.join(this.dir, name);
      const parsed = parseSegment(await fs.readFile(file, 'utf8'));
      records.push(...parsed.records);
      this.tornBytes += parsed.tornBytes;
      (parsed.damagedLines > 0 ? damaged : old).push(file);
    }
    for (const r of records) if (!('done' in r)) maxSeq = Math.max(maxSeq, r.seq);
    this.nextSeq = maxSeq + 1;
    const live = [...liveReports(records).values()].sort((a, b) => a.seq - b.seq);
    for (const r of live) this.entries.set(r.id, { ...r, segment: -1 });
    if (live.length > 0) {
      this.batch.entries.push(...this.entries.values());
      await this.write();
    }
    for (const file of old) await fs.rm(file, { force: true });
    for (const file of damaged) await this.setAside(file);
  }

  /** Writes the report durably (a report with the same id already kept is kept as it is). */
  async put(id: string, event: AttemptReport): Promise<OutboxEntry> {
    const existing = this.entries.get(id);
    if (existing) {
      // Still being written by a concurrent put: not acknowledged before it is on disk.
      await this.unwritten.get(existing);
      return existing;
    }
    if (this.closed) throw new Error('the outbox is closed');
    const entry: OutboxEntry = { seq: this.nextSeq++, id, event, segment: -1 };
    // In the index before the write ends: a concurrent put of the same id must not write it twice.
    this.entries.set(id, entry);
    const written = new Promise<void>((resolve, reject) => this.batch.waiters.push({ resolve, reject }));
    this.unwritten.set(entry, written);
    this.batch.entries.push(entry);
    this.schedule();
    try {
      await written;
    } finally {
      this.unwritten.delete(entry);
    }
    return entry;
  }

  get(id: string): OutboxEntry | undefined {
    return this.entries.get(id);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every kept report, oldest first. */
  list(): OutboxEntry[] {
    return [...this.entries.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Forgets a report the scheduler has recorded (on disk with the next write). */
  remove(entry: OutboxEntry): void {
    if (this.entries.get(entry.id) !== entry || entry.segment < 0) return;
    this.entries.delete(entry.id);
    this.batch.done.push(entry.id);
    this.release(entry.segment);
    this.schedule();
  }

  /** Writes what is pending and closes the segment; later puts fail. */
  async close(): Promise<void> {
    await this.flushed();
    this.closed = true;
    if (this.current) {
      const { fd } = this.current;
      this.current = null;
      await callback<void>((cb) => close(fd, cb));
    }
  }

  /** Resolves once everything put or removed so far has been written (or its write has failed). */
  private async flushed(): Promise<void> {
    while (this.writing || this.pending()) {
      await (this.writing ?? this.write()).catch(() => undefined);
    }
  }

  private pending(): boolean {
    return this.batch.entries.length > 0 || this.batch.done.length > 0;
  }

  /** Group commit: what is put in this turn of the event loop, or while a write is in flight, goes in the next write. */
  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // A failed write has already rejected its puts; the outbox itself goes on.
      if (!this.writing && this.pending()) this.write().catch(() => undefined);
    });
  }

  /** Writes the pending batch; then the next one, if more came in meanwhile. */
  private write(): Promise<void> {
    const batch = this.batch;
    this.batch = { entries: [], done: [], waiters: [] };
    this.writing = this.writeBatch(batch).then(
      () => {
        for (const w of batch.waiters) w.resolve();
      },
      (error: Error) => {
        for (const e of batch.entries) if (this.entries.get(e.id) === e && e.segment < 0) this.entries.delete(e.id);
        for (const w of batch.waiters) w.reject(error);
        throw error;
      },
    ).finally(() => {
      this.writing = null;
      if (this.pending()) this.schedule();
    });
    return this.writing;
  }

  private async writeBatch(batch: Batch): Promise<void> {
    // Recorded ids alone never start a segment: without them a restart only sends a recorded report again.
    if (batch.entries.length === 0 && (batch.done.length === 0 || !this.current)) return;
    let newSegment = false;
    let moved: OutboxEntry[] = [];
    if (batch.entries.length > 0 && (!this.current || this.current.bytes >= this.segmentBytes)) {
      // The segment left behind keeps only what is still unrecorded: that moves here, and the old file goes.
      const retired = this.current;
      this.current = null;
      if (retired) {
        moved = [...this.entries.values()].filter((e) => e.segment === retired.n);
        await callback<void>((cb) => close(retired.fd, cb));
        if (moved.length === 0) this.dropIfDead(retired.n);
      }
      const n = this.nextSegment++;
      const fd = await callback<number>((cb) => open(path.join(this.dir, segmentName(n)), 'a', 0o600, cb));
      this.current = { n, fd, bytes: 0 };
      this.liveIn.set(n, 0);
      newSegment = true;
    }
    const current = this.current!;
    // Recorded ids first: a report recorded and then put again under its id (a new report) stays kept.
    let text = batch.done.length > 0 ? encodeRecord({ v: 2, done: batch.done }) : '';
    const puts = [...moved, ...batch.entries].sort((a, b) => a.seq - b.seq);
    for (const e of puts) text += encodeRecord({ v: 2, seq: e.seq, id: e.id, event: e.event });
    const buffer = Buffer.from(text);
    try {
      writeAll(current.fd, buffer);
      current.bytes += buffer.length;
      if (puts.length > 0) {
        await callback<void>((cb) => fdatasync(current.fd, cb));
        this.syncs += 1;
      }
      if (newSegment) await this.syncDir();
    } catch (error) {
      // What follows a failed write or sync is not trusted: the next batch starts a new segment.
      if (this.current === current) {
        this.current = null;
        close(current.fd, () => undefined);
        this.dropIfDead(current.n);
      }
      throw error;
    }
    for (const e of puts) {
      // Recorded while this write was in flight (a moved report): already released from its old segment.
      if (this.entries.get(e.id) !== e) continue;
      const from = e.segment;
      e.segment = current.n;
      this.liveIn.set(current.n, (this.liveIn.get(current.n) ?? 0) + 1);
      if (from >= 0) this.release(from);
    }
  }

  /** One report fewer in a segment; a segment no longer appended to and holding none is deleted. */
  private release(n: number): void {
    this.liveIn.set(n, (this.liveIn.get(n) ?? 1) - 1);
    if (this.current?.n !== n) this.dropIfDead(n);
  }

  private dropIfDead(n: number): void {
    if ((this.liveIn.get(n) ?? 0) > 0) return;
    this.liveIn.delete(n);
    fs.rm(path.join(this.dir, segmentName(n)), { force: true }).catch((error: Error) => this.onError(error, 'deleting a recorded outbox segment'));
  }

  private async setAside(file: string): Promise<void> {
    await fs.rename(file, `${file}.unreadable`);
    this.unreadable.push(file);
  }

  private async syncDir(): Promise<void> {
    const fd = await callback<number>((cb) => open(this.dir, 'r', cb));
    try {
      await callback<void>((cb) => fsync(fd, cb));
    } finally {
      await callback<void>((cb) => close(fd, cb));
    }
  }
}

/** The callback API: a report costs a few promises fewer than through FileHandle. */
function callback<T>(call: (cb: (error: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => call((error, value) => (error ? reject(error) : resolve(value as T))));
}

/**
 * Appends in this thread: a write of a batch lands in the page cache in
 * microseconds, while a trip through libuv's pool (four threads shared by
 * every outbox of the process) costs more than the write itself. The
 * wait for the disk is fdatasync's, and that one goes through the pool.
 */
function writeAll(fd: number, buffer: Buffer): void {
  let offset = 0;
  while (offset < buffer.length) offset += writeSync(fd, buffer, offset, buffer.length - offset);
}
