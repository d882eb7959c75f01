import { encodeRecord, liveReports, parseSegment, segmentName, SEGMENT_FILE, type AttemptReport, type SegmentRecord } from './outbox-segment.js';

const running = (jobId: string): AttemptReport => ({
  type: 'attempt-running', jobId, attempt: 1, workerId: 'w1', containerId: 'c1', startedAt: '2026-12-02T00:00:00.000Z',
});
const put = (seq: number, id: string): SegmentRecord => ({ v: 2, seq, id, event: running(id) });

describe('outbox segments', () => {
  it('reads back what it wrote, in order', () => {
    const records = [put(1, 'a'), put(2, 'b'), { v: 2 as const, done: ['a'] }];
    const parsed = parseSegment(records.map(encodeRecord).join(''));
    expect(parsed).toEqual({ records, tornBytes: 0, damagedLines: 0 });
  });

  it('drops a last line cut short, whether or not its newline made it, and counts its bytes', () => {
    const whole = encodeRecord(put(1, 'a'));
    const cut = encodeRecord(put(2, 'b')).slice(0, 30);
    expect(parseSegment(whole + cut)).toEqual({ records: [put(1, 'a')], tornBytes: 30, damagedLines: 0 });
    // The newline reached the disk but part of the line did not (zeros where the data should be).
    const zeroed = `${'\0'.repeat(20)}${encodeRecord(put(2, 'b')).slice(20)}`;
    expect(parseSegment(whole + zeroed)).toEqual({ records: [put(1, 'a')], tornBytes: Buffer.byteLength(zeroed), damagedLines: 0 });
  });

  it('loses only a damaged line in the middle, and says the file is damaged', () => {
    const first = encodeRecord(put(1, 'a'));
    const flipped = encodeRecord(put(2, 'b')).replace('"b"', '"c"');
    const third = encodeRecord(put(3, 'd'));
    expect(parseSegment(first + flipped + third)).toEqual({ records: [put(1, 'a'), put(3, 'd')], tornBytes: 0, damagedLines: 1 });
  });

  it('refuses lines whose checksum matches but whose shape is not a record', () => {
    const fake = (value: unknown) => encodeRecord(value as SegmentRecord);
    const text = fake({ v: 1, seq: 1, id: 'a', event: running('a') }) + fake({ v: 2, seq: 1, id: 'a', event: { type: 'worker-changed' } }) + fake({ v: 2, done: [1] });
    expect(parseSegment(text).records).toEqual([]);
  });

  it('keeps what no later line says was recorded; a report put again after that is kept anew', () => {
    const records: SegmentRecord[] = [put(1, 'a'), put(2, 'b'), { v: 2, done: ['a'] }, put(2, 'b'), put(5, 'a'), { v: 2, done: ['b'] }];
    expect([...liveReports(records).values()]).toEqual([{ seq: 5, id: 'a', event: running('a') }]);
  });

  it('names segments so that they sort in the order they were started', () => {
    expect(segmentName(7)).toBe('000000000007.log');
    expect(SEGMENT_FILE.exec(segmentName(123456789012))?.[1]).toBe('123456789012');
    expect([segmentName(10), segmentName(9)].sort()).toEqual([segmentName(9), segmentName(10)]);
  });
});
