import { billingMonth } from '#libs/core';
import { ApiError } from '../common/api-error.js';

/** A group key as SQL over each source a report reads: the daily rollup and the usage rows. */
interface KeySql { rollup: string; rows: string }
const same = (column: string): KeySql => ({ rollup: column, rows: column });

/** What a usage report can be grouped by. */
const GROUP_COLUMNS: Record<string, KeySql> = {
  project: same('project'),
  queue: same('queue'),
  definition: same('definition'),
  pool: same('pool'),
  // The rollup keys attempts without GPUs under '' (a key column cannot be NULL).
  gpuModel: { rollup: `NULLIF(gpu_model, '')`, rows: 'gpu_model' },
  // A row counts on the day (and in the month) its attempt started.
  day: { rollup: 'day::text', rows: `((started_at AT TIME ZONE 'UTC')::date)::text` },
};

export const GROUP_KEYS = [...Object.keys(GROUP_COLUMNS), 'tag:<key>'];
const MAX_GROUP_KEYS = 8;

export interface Grouping {
  /** As asked: `project`, `tag:team`... */
  keys: string[];
  /** SQL for each key, in the same order; tag keys are bound as parameters `$<offset + i>`. */
  expressions: KeySql[];
  params: string[];
}

/** Parses `project,day,tag:team`; a 400 names any key that is not allowed. */
export function parseGroupBy(text: string | undefined, paramOffset: number): Grouping {
  const keys = (text ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (keys.length > MAX_GROUP_KEYS) throw new ApiError('VALIDATION_FAILED', `groupBy takes at most ${MAX_GROUP_KEYS} keys`);
  const grouping: Grouping = { keys: [], expressions: [], params: [] };
  for (const key of keys) {
    if (grouping.keys.includes(key)) throw new ApiError('VALIDATION_FAILED', `groupBy names ${key} twice`);
    if (key.startsWith('tag:')) {
      const tag = key.slice(4);
      if (tag.length === 0 || tag.length > 256) throw new ApiError('VALIDATION_FAILED', `groupBy ${key}: a tag key must be 1-256 characters`);
      grouping.params.push(tag);
      grouping.expressions.push(same(`tags ->> $${paramOffset + grouping.params.length}`));
    } else if (Object.hasOwn(GROUP_COLUMNS, key)) {
      grouping.expressions.push(GROUP_COLUMNS[key]);
    } else {
      throw new ApiError('VALIDATION_FAILED', `groupBy key "${key}" is unknown; use any of ${GROUP_KEYS.join(', ')}`);
    }
    grouping.keys.push(key);
  }
  return grouping;
}

/** The period: `from` inclusive (default: start of this month, UTC), `to` exclusive (default: now). */
export function parsePeriod(from: string | undefined, to: string | undefined, now: Date): { from: Date; to: Date } {
  const period = {
    from: from ? new Date(from) : billingMonth(now).start,
    to: to ? new Date(to) : now,
  };
  // Strict ISO 8601 can still name a time Date cannot hold (year 275761 and on).
  if (Number.isNaN(period.from.getTime())) throw new ApiError('VALIDATION_FAILED', 'from is out of range');
  if (Number.isNaN(period.to.getTime())) throw new ApiError('VALIDATION_FAILED', 'to is out of range');
  if (period.from > period.to) {
    throw new ApiError('VALIDATION_FAILED', `from (${period.from.toISOString()}) must not be after to (${period.to.toISOString()})`);
  }
  return period;
}

const DAY_MS = 86_400_000;

/**
 * Splits a period into the whole UTC days inside it, which the daily rollup
 * answers, and the partial days at its ends, which the usage rows answer:
 * [from, wholeFrom) and [wholeTo, to). Without a whole day, wholeFrom and
 * wholeTo are both `to` and the rows answer it all.
 */
export function splitByDays(period: { from: Date; to: Date }): { wholeFrom: Date; wholeTo: Date } {
  const wholeFrom = new Date(Math.ceil(period.from.getTime() / DAY_MS) * DAY_MS);
  const wholeTo = new Date(Math.floor(period.to.getTime() / DAY_MS) * DAY_MS);
  return wholeFrom < wholeTo ? { wholeFrom, wholeTo } : { wholeFrom: period.to, wholeTo: period.to };
}

/**
 * A cell a spreadsheet would run as a formula (it starts with =, +, -, @, a
 * tab or a carriage return: a project or tag named `=HYPERLINK(...)`) gets a
 * leading apostrophe, so it shows as text. Plain numbers (-1.50) stay as they are.
 */
export function neutralizeCsvCell(s: string): string {
  return /^[=+\-@\t\r]/.test(s) && !/^[-+]?[0-9]+(\.[0-9]+)?$/.test(s) ? `'${s}` : s;
}

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled; formula-like cells neutralised. */
export function toCsv(header: string[], rows: unknown[][]): string {
  const field = (v: unknown) => {
    const s = neutralizeCsvCell(v === null || v === undefined ? '' : String(v));
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}
