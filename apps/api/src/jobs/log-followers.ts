import { Inject, Injectable } from '@nestjs/common';
import type { ApiConfig } from '#libs/config';
import { ApiError } from '../common/api-error.js';
import { API_CONFIG } from '../infra/tokens.js';

/** Live-log streams each caller holds open in this process, capped: a follower costs a Redis connection. */
@Injectable()
export class LogFollowers {
  private readonly open = new Map<string, number>();

  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  /** Takes one of the caller's follower slots; the returned function gives it back (once). */
  acquire(callerId: string): () => void {
    const held = this.open.get(callerId) ?? 0;
    if (held >= this.config.auth.maxLogFollowers) {
      throw new ApiError('TOO_MANY_FOLLOWERS', `${callerId} already follows ${held} logs, the most one key may; close one first`);
    }
    this.open.set(callerId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.open.get(callerId) ?? 1) - 1;
      if (now <= 0) this.open.delete(callerId);
      else this.open.set(callerId, now);
    };
  }
}
