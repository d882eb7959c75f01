import { crc32 } from 'node:zlib';
import type { AttemptExitedEvent, AttemptRunningEvent } from '#libs/queue';

/** The reports kept until the scheduler has recorded them. */
export type AttemptReport = AttemptRunningEvent | AttemptExitedEvent;

/**
 * One line of an outbox segment: a report kept (`seq` orders them across
 * segments and restarts), or the ids of reports the scheduler has recorded.
 */
export type SegmentRecord =
  | { v: 2; seq: number; id: string; event: AttemptReport }
  | { v: 2; done: string[] };

/** A segment file: `<n, 12 digits>.log`, numbered in the order they were started. */
export const SEGMENT_FILE = /^(\d{12})\.log$/;

export function segmentName(n: number): string {
  return `${String(n).padStart(12, '0')}.log`;
}

/** `<crc32 of the JSON, 8 hex digits> <JSON>\n`: a line cut short or damaged fails its checksum. */
export function encodeRecord(record: SegmentRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

export interface ParsedSegment {
  /** The whole records, in the order written. */
  records: SegmentRecord[];
  /** Bytes after the last whole record that are not one: a write a crash cut short (never acknowledged). */
  tornBytes: number;
  /** Damaged lines followed by whole ones: not a cut-short write, the file itself is damaged. */
  damagedLines: number;
}

/**
 * Reads a segment. Each line is checked alone, so one damaged line loses
 * only its own report; the end of the file may be a write cut short.
 */
export function parseSegment(text: string): ParsedSegment {
  const lines = text.split('\n');
  // The piece after the last newline is a line whose write did not finish (empty when the file ends cleanly).
  const unterminated = lines.pop() ?? '';
  const records: SegmentRecord[] = [];
  let pendingBad = 0;
  let pendingBadBytes = 0;
  let damagedLines = 0;
  for (const line of lines) {
    const record = decodeLine(line);
    if (record) {
      damagedLines += pendingBad;
      pendingBad = 0;
      pendingBadBytes = 0;
      records.push(record);
    } else {
      pendingBad += 1;
      pendingBadBytes += Buffer.byteLength(line) + 1;
    }
  }
  return { records, tornBytes: pendingBadBytes + Buffer.byteLength(unterminated), damagedLines };
}

function decodeLine(line: string): SegmentRecord | null {
  if (line.length < 10 || line[8] !== ' ') return null;
  const json = line.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null; // a checksum that matches damaged JSON: only a writer bug does this; the line is lost alone
  }
  return isRecord(value) ? value : null;
}

function isRecord(value: unknown): value is SegmentRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  if (r.v !== 2) return false;
  if (Array.isArray(r.done)) return r.done.every((id) => typeof id === 'string');
  const event = r.event as { type?: unknown } | undefined;
  return Number.isSafeInteger(r.seq) && typeof r.id === 'string' && (event?.type === 'attempt-running' || event?.type === 'attempt-exited');
}

/** What a series of records (segments in order, each in file order) leaves kept: later lines win. */
export function liveReports(records: Iterable<SegmentRecord>): Map<string, { seq: number; id: string; event: AttemptReport }> {
  const live = new Map<string, { seq: number; id: string; event: AttemptReport }>();
  for (const r of records) {
    if ('done' in r) for (const id of r.done) live.delete(id);
    else if (!live.has(r.id)) live.set(r.id, { seq: r.seq, id: r.id, event: r.event });
  }
  return live;
}
