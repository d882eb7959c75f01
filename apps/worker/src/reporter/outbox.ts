import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AttemptExitedEvent, AttemptRunningEvent } from '#libs/queue';

/** The reports kept until the scheduler has recorded them. */
export type AttemptReport = AttemptRunningEvent | AttemptExitedEvent;

export interface OutboxEntry {
  /** Order of writing: a pass re-sends in this order, so an attempt's RUNNING stays before its exit. */
  seq: number;
  /** The events queue job id (eventJobId). */
  id: string;
  event: AttemptReport;
  file: string;
}

/** One file per report: `<seq, 12 digits>.<event job id>.json` holding `{ v: 1, id, event }`. */
const FILE = /^(\d{12})\.(.+)\.json$/;

/**
 * Reports on the worker's disk until the scheduler has recorded them. Each is
 * written to a temporary file, fsync'd, renamed into place and the directory
 * fsync'd, so that after a crash a report is either whole or absent. This
 * process is the only writer of its directory; the index is kept in memory.
 */
export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();
  private nextSeq = 1;
  /** Files that could not be read at start-up, renamed aside for an operator. */
  readonly unreadable: string[] = [];

  constructor(readonly dir: string) {}

  /** Creates the directory and loads what an earlier process of this worker left. */
  async open(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    for (const name of (await fs.readdir(this.dir)).sort()) {
      const file = path.join(this.dir, name);
      if (name.endsWith('.tmp')) {
        // A write cut short by a crash: its report was never acknowledged as written.
        await fs.rm(file, { force: true });
        continue;
      }
      const match = FILE.exec(name);
      if (!match) continue;
      try {
        const stored = JSON.parse(await fs.readFile(file, 'utf8')) as { v?: number; id?: string; event?: AttemptReport };
        if (stored.v !== 1 || stored.id !== match[2] || typeof stored.event?.type !== 'string') throw new Error('not an outbox entry');
        const seq = Number(match[1]);
        this.entries.set(stored.id, { seq, id: stored.id, event: stored.event, file });
        this.nextSeq = Math.max(this.nextSeq, seq + 1);
      } catch {
        await fs.rename(file, `${file}.unreadable`);
        this.unreadable.push(file);
      }
    }
  }

  /** Writes the report durably (a report with the same id already kept is kept as it is). */
  async put(id: string, event: AttemptReport): Promise<OutboxEntry> {
    const existing = this.entries.get(id);
    if (existing) return existing;
    const seq = this.nextSeq++;
    const file = path.join(this.dir, `${String(seq).padStart(12, '0')}.${id}.json`);
    const entry: OutboxEntry = { seq, id, event, file };
    // In the index before the write ends: a concurrent put of the same id must not write a second file.
    this.entries.set(id, entry);
    try {
      const tmp = `${file}.tmp`;
      const handle = await fs.open(tmp, 'w');
      try {
        await handle.writeFile(JSON.stringify({ v: 1, id, event }));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tmp, file);
      await this.syncDir();
    } catch (error) {
      this.entries.delete(id);
      throw error;
    }
    return entry;
  }

  get(id: string): OutboxEntry | undefined {
    return this.entries.get(id);
  }

  /** Every kept report, oldest first. */
  list(): OutboxEntry[] {
    return [...this.entries.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Forgets a report the scheduler has recorded. */
  async remove(entry: OutboxEntry): Promise<void> {
    if (this.entries.get(entry.id) !== entry) return;
    this.entries.delete(entry.id);
    await fs.rm(entry.file, { force: true });
  }

  private async syncDir(): Promise<void> {
    const handle = await fs.open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
