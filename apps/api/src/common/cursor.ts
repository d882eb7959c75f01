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
    if (typeof createdAt === 'string' && typeof id === 'string' && !Number.isNaN(Date.parse(createdAt))) return { createdAt, id };
  } catch {
    // fall through to the error below
  }
  throw new ApiError('VALIDATION_FAILED', 'cursor must be a value returned as nextCursor by a previous page');
}
