import { Inject, Injectable } from '@nestjs/common';
import type { ApiConfig } from '#libs/config';
import { API_CONFIG } from '../infra/tokens.js';

/**
 * Requests per key (per address before authentication) in fixed windows, in
 * this process's memory. Our own, not @nestjs/throttler: its CommonJS build
 * requires the ESM-only Nest 12 in a cycle, which Jest's module loader
 * refuses (the same wall as the Swagger UI's static files).
 */
@Injectable()
export class KeyRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly windowMs: number;
  private readonly limit: number;

  constructor(@Inject(API_CONFIG) config: ApiConfig) {
    this.windowMs = config.auth.rateLimit.windowSeconds * 1000;
    this.limit = config.auth.rateLimit.limit;
  }

  /** Counts one request; returns the seconds to wait when over the limit, else 0. */
  take(tracker: string, now = Date.now()): number {
    let w = this.windows.get(tracker);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size >= 100_000) this.sweep(now);
      w = { start: now, count: 0 };
      this.windows.set(tracker, w);
    }
    w.count += 1;
    return w.count > this.limit ? Math.ceil((w.start + this.windowMs - now) / 1000) : 0;
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
    if (this.windows.size >= 100_000) this.windows.clear();
  }
}
