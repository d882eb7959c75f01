import { ApiError } from './api-error.js';

/** Keyset cursor for newest-first listings: the last row's (created_at, id). */
export interface Cursor {
  createdAt: string;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.id])).toString('base64url');
}

export function decodeCursor(raw: string): Cursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown[];
    // Exactly what Postgres prints for a timestamptz, so the cast back can never fail.
    const timestamp = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;
    if (typeof createdAt === 'string' && typeof id === 'string' && timestamp.test(createdAt) && id.length <= 64) {
      return { createdAt, id };
    }
  } catch {
    // fall through to the error below
  }
  throw new ApiError('VALIDATION_FAILED', 'cursor must be a value returned as nextCursor by a previous page');
}
