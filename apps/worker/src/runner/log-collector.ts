import type { LogLine } from '#libs/queue';

const HEADER_BYTES = 8;
const STREAMS: Record<number, LogLine['stream'] | undefined> = { 1: 'stdout', 2: 'stderr' };

export interface LogCollectorOptions {
  /** Called with each line as it is kept (the truncation marker included), in order. */
  onLine?: (line: LogLine) => void;
  /** false: lines go to onLine only and `lines` stays empty (a live follower need not hold the output). */
  retain?: boolean;
}

/**
 * Turns Docker's multiplexed log stream (8-byte frame headers; requested
 * with timestamps) into one LogLine per line, keeping at most `maxBytes`
 * of text. Frames are parsed here rather than through demuxStream because
 * Docker writes exactly one log message per frame, and the frame is what
 * carries the message's stream and time.
 */
export class LogCollector {
  readonly lines: LogLine[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private bytes = 0;
  private full = false;
  /** A message Docker split (longer than its 16 KiB line buffer) still being assembled, per stream. */
  private readonly partial: Partial<Record<LogLine['stream'], LogLine>> = {};

  constructor(
    private readonly maxBytes: number,
    private readonly options: LogCollectorOptions = {},
  ) {}

  /** True once the cap is reached: the caller may stop reading. */
  get truncated(): boolean {
    return this.full;
  }

  push(chunk: Buffer): void {
    if (this.full) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (!this.full && this.pending.length >= HEADER_BYTES) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < HEADER_BYTES + size) break;
      const stream = STREAMS[this.pending[0]];
      const payload = this.pending.subarray(HEADER_BYTES, HEADER_BYTES + size).toString('utf8');
      this.pending = this.pending.subarray(HEADER_BYTES + size);
      if (stream) this.message(stream, payload);
    }
  }

  /** Flushes what is left; call once the stream has ended. */
  finish(): LogLine[] {
    for (const stream of ['stdout', 'stderr'] as const) {
      const open = this.partial[stream];
      if (open) {
        delete this.partial[stream];
        this.keep(open);
      }
    }
    return this.lines;
  }

  private message(stream: LogLine['stream'], payload: string): void {
    const space = payload.indexOf(' ');
    const stamp = space > 0 ? new Date(payload.slice(0, space)) : new Date(Number.NaN);
    const at = Number.isNaN(stamp.getTime()) ? new Date().toISOString() : stamp.toISOString();
    const text = Number.isNaN(stamp.getTime()) ? payload : payload.slice(space + 1);
    // A message without a trailing newline is either split by Docker or the output's last line.
    const complete = text.endsWith('\n');
    const parts = (complete ? text.slice(0, -1) : text).split('\n');
    parts.forEach((part, i) => {
      const open = this.partial[stream];
      let line: LogLine;
      if (i === 0 && open) {
        delete this.partial[stream];
        line = { ...open, text: open.text + part };
      } else {
        line = { stream, at, text: part };
      }
      const last = i === parts.length - 1;
      const overBudget = this.bytes + Buffer.byteLength(line.text, 'utf8') >= this.maxBytes;
      if (last && !complete && !overBudget) this.partial[stream] = line;
      else this.keep(line);
    });
  }

  private keep(line: LogLine): void {
    if (this.full) return;
    const size = Buffer.byteLength(line.text, 'utf8') + 1;
    if (this.bytes + size > this.maxBytes) {
      this.full = true;
      this.emit({ stream: 'stderr', at: line.at, text: `[gpubatch] output truncated at ${this.maxBytes} bytes` });
      return;
    }
    this.bytes += size;
    this.emit(line);
  }

  private emit(line: LogLine): void {
    if (this.options.retain !== false) this.lines.push(line);
    this.options.onLine?.(line);
  }
}
