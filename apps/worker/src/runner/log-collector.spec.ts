import { LogCollector } from './log-collector.js';

/** One Docker multiplexed frame: stream byte, 3 zero bytes, big-endian length, payload. */
function frame(stream: 1 | 2, payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

const T1 = '2025-01-02T03:04:05.123456789Z';
const T2 = '2025-01-02T03:04:06.000000001Z';

describe('LogCollector', () => {
  it('makes one line per message with its stream and time', () => {
    const logs = new LogCollector(1024);
    logs.push(Buffer.concat([frame(1, `${T1} hello\n`), frame(2, `${T2} oops\n`), frame(1, `${T2} bye\n`)]));
    expect(logs.finish()).toEqual([
      { stream: 'stdout', at: '2025-01-02T03:04:05.123Z', text: 'hello' },
      { stream: 'stderr', at: '2025-01-02T03:04:06.000Z', text: 'oops' },
      { stream: 'stdout', at: '2025-01-02T03:04:06.000Z', text: 'bye' },
    ]);
    expect(logs.truncated).toBe(false);
  });

  it('reassembles frames split across chunks at any byte', () => {
    const bytes = Buffer.concat([frame(1, `${T1} first line\n`), frame(2, `${T1} é ünïcode\n`)]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const logs = new LogCollector(1024);
      logs.push(bytes.subarray(0, cut));
      logs.push(bytes.subarray(cut));
      expect(logs.finish().map((l) => l.text)).toEqual(['first line', 'é ünïcode']);
    }
  });

  it('joins a message Docker split into parts, and keeps a last line without newline', () => {
    const logs = new LogCollector(1024);
    logs.push(Buffer.concat([frame(1, `${T1} part one `), frame(1, `${T2} part two\n`), frame(2, `${T2} no newline`)]));
    expect(logs.finish()).toEqual([
      { stream: 'stdout', at: '2025-01-02T03:04:05.123Z', text: 'part one part two' },
      { stream: 'stderr', at: '2025-01-02T03:04:06.000Z', text: 'no newline' },
    ]);
  });

  it('keeps empty lines', () => {
    const logs = new LogCollector(1024);
    logs.push(Buffer.concat([frame(1, `${T1} \n`), frame(1, `${T1} x\n`)]));
    expect(logs.finish().map((l) => l.text)).toEqual(['', 'x']);
  });

  it('stops at the cap with a marker line on stderr', () => {
    const logs = new LogCollector(20);
    for (let i = 0; i < 10; i++) logs.push(frame(1, `${T1} line-${i}\n`));
    const lines = logs.finish();
    // "line-0\n" is 7 bytes: two fit in 20, the third does not.
    expect(lines.map((l) => l.text)).toEqual(['line-0', 'line-1', '[gpubatch] output truncated at 20 bytes']);
    expect(lines[2].stream).toBe('stderr');
    expect(logs.truncated).toBe(true);
  });

  it('cuts a never-ending line at the cap instead of holding it whole', () => {
    const logs = new LogCollector(1024);
    for (let i = 0; i < 100; i++) logs.push(frame(1, `${T1} ${'x'.repeat(100)}`));
    expect(logs.truncated).toBe(true);
    expect(logs.finish()).toEqual([{ stream: 'stderr', at: '2025-01-02T03:04:05.123Z', text: '[gpubatch] output truncated at 1024 bytes' }]);
  });

  it('hands each kept line to onLine as it completes, the same lines a retaining collector keeps', () => {
    const bytes = [frame(1, `${T1} one\n`), frame(2, `${T1} two `), frame(2, `${T2} halves\n`), frame(1, `${T2} three\nfour\n`), frame(1, `${T2} ${'x'.repeat(30)}\n`)];
    const seen: string[] = [];
    const live = new LogCollector(30, { retain: false, onLine: (line) => seen.push(line.text) });
    const stored = new LogCollector(30);
    live.push(bytes[0]);
    expect(seen).toEqual(['one']);
    live.push(bytes[1]);
    expect(seen).toEqual(['one']); // the line is not complete yet
    for (const b of bytes.slice(2)) live.push(b);
    for (const b of bytes) stored.push(b);
    expect(live.finish()).toEqual([]);
    expect(seen).toEqual(stored.finish().map((l) => l.text));
    expect(seen).toEqual(['one', 'two halves', 'three', 'four', '[gpubatch] output truncated at 30 bytes']);
  });
});
