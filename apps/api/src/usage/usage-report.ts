import { billingMonth } from '#libs/core';
import { ApiError } from '../common/api-error.js';

/** What a usage report can be grouped by, and the SQL each stands for. */
const GROUP_COLUMNS = {
  project: 'project',
  queue: 'queue',
  definition: 'definition',
  pool: 'pool',
  gpuModel: 'gpu_model',
  // A row counts on the day (and in the month) its attempt started.
  day: `to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
} as const;

export const GROUP_KEYS = [...Object.keys(GROUP_COLUMNS), 'tag:<key>'];
const MAX_GROUP_KEYS = 8;

export interface Grouping {
  /** As asked: `project`, `tag:team`... */
  keys: string[];
  /** SQL expressions, in the same order; tag keys are bound as parameters `$<offset + i>`. */
  expressions: string[];
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
      grouping.expressions.push(`tags ->> $${paramOffset + grouping.params.length}`);
    } else if (Object.hasOwn(GROUP_COLUMNS, key)) {
      grouping.expressions.push(GROUP_COLUMNS[key as keyof typeof GROUP_COLUMNS]);
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

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
export function toCsv(header: string[], rows: unknown[][]): string {
  const field = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}
