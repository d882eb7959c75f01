import type { Logger } from '#libs/log';

/** AWS's instance-metadata spot notice: 404 until the instance is to be reclaimed, then `{ "action": "terminate", "time": "…" }`. */
export const AWS_SPOT_NOTICE_URL = 'http://169.254.169.254/latest/meta-data/spot/instance-action';

// AWS gives two minutes' notice; a notice whose time cannot be read is taken as that.
const DEFAULT_NOTICE_MS = 120_000;

/** The deadline a notice body gives, as epoch ms: its `time`, or two minutes from `now`. */
export function noticeDeadline(body: string, now: number): number {
  try {
    const parsed = JSON.parse(body) as { time?: unknown };
    const at = typeof parsed.time === 'string' ? Date.parse(parsed.time) : NaN;
    if (Number.isFinite(at)) return at;
  } catch {
    // not JSON: a notice all the same
  }
  return now + DEFAULT_NOTICE_MS;
}

/**
 * Polls the spot notice URL (WORKER_SPOT_NOTICE=aws); the first notice calls
 * `onNotice` with its deadline, once. A failed poll (no metadata service, a
 * timeout) is not a notice.
 */
export class SpotNoticePoller {
  private timer: NodeJS.Timeout | undefined;
  private noticed = false;

  constructor(
    private readonly url: string,
    private readonly intervalMs: number,
    private readonly onNotice: (deadline: number) => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    if (this.noticed) return;
    let res: Response;
    try {
      res = await fetch(this.url, { signal: AbortSignal.timeout(Math.min(2000, this.intervalMs)) });
    } catch (error) {
      this.logger.debug({ err: error, url: this.url }, 'spot notice poll failed');
      return;
    }
    if (res.status !== 200) return;
    const deadline = noticeDeadline(await res.text(), Date.now());
    if (this.noticed) return;
    this.noticed = true;
    this.stop();
    this.logger.warn({ deadline: new Date(deadline).toISOString() }, 'spot interruption notice');
    this.onNotice(deadline);
  }
}
