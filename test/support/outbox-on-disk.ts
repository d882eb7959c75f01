import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { liveReports, parseSegment, SEGMENT_FILE, type SegmentRecord } from '../../apps/worker/src/reporter/outbox-segment.js';

/** The reports a worker's outbox directory keeps on disk (what a restart would send), oldest first. */
export function keptReports(outboxDir: string): ReturnType<typeof liveReports> extends Map<string, infer R> ? R[] : never {
  const records: SegmentRecord[] = [];
  for (const name of readdirSync(outboxDir).filter((n) => SEGMENT_FILE.test(n)).sort()) {
    records.push(...parseSegment(readFileSync(path.join(outboxDir, name), 'utf8')).records);
  }
  return [...liveReports(records).values()].sort((a, b) => a.seq - b.seq);
}

/** The segment files of an outbox directory, in order. */
export function segmentFiles(outboxDir: string): string[] {
  return readdirSync(outboxDir).filter((n) => SEGMENT_FILE.test(n)).sort();
}
