import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min, MaxLength } from 'class-validator';
import { ApiError } from './api-error.js';

/** `?limit=&cursor=` of every list route: at most 1,000 rows a page, 100 unless asked. */
export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional() @IsString() @MaxLength(1024)
  cursor?: string;
}

export const DEFAULT_PAGE_SIZE = 100;

/** A row's place in a listing's order: the values of its sort columns, unique together. */
export type SortKey = (string | number)[];
type KeyShape = readonly ('string' | 'number')[];

/**
 * Keyset paging for lists in a fixed total order: the cursor is the sort key
 * of a page's last row, so a page never repeats or skips a row when rows are
 * added or removed between requests (as offsets would).
 */
export function encodeKeyCursor(key: SortKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key in a cursor, checked against the listing's shape: anything else is a 400, never reaches SQL unchecked. */
export function decodeKeyCursor(raw: string | undefined, shape: KeyShape): SortKey | undefined {
  if (raw === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === shape.length && key.every((v, i) =>
      shape[i] === 'number' ? Number.isSafeInteger(v) : typeof v === 'string' && v.length <= 256 && !v.includes('\u0000'))) {
      return key as SortKey;
    }
  } catch {
    // fall through to the error below
  }
  throw new ApiError('VALIDATION_FAILED', 'cursor must be a value returned as nextCursor by a previous page of this list');
}

/** A page from `limit + 1` rows read after the cursor: the extra row only says there is a next page. */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => SortKey): { rows: T[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { rows: page, nextCursor: rows.length > limit && last !== undefined ? encodeKeyCursor(keyOf(last)) : null };
}

/** Swagger's description of every list's nextCursor. */
export const NEXT_CURSOR_PROPERTY = { type: String, nullable: true, description: 'The cursor of the next page; null on the last page' } as const;
