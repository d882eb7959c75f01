import { ApiError } from '../common/api-error.js';

/** nextToken for lists AWS pages that gpubatch holds in memory (definitions, queues, pools): an offset, opaque to clients. */
export function page<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined): { items: T[]; nextToken?: string } {
  const size = maxResults ?? 100;
  let start = 0;
  if (nextToken !== undefined) {
    const m = /^o([0-9]{1,9})$/.exec(Buffer.from(nextToken, 'base64url').toString('utf8'));
    if (!m) throw new ApiError('VALIDATION_FAILED', 'nextToken must be a value returned as nextToken by a previous page');
    start = Number(m[1]);
  }
  const slice = items.slice(start, start + size);
  return { items: slice, ...(start + size < items.length ? { nextToken: Buffer.from(`o${start + size}`).toString('base64url') } : {}) };
}
