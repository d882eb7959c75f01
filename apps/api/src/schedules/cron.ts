import { CronExpressionParser } from 'cron-parser';

/**
 * Cron rules shared by validation and views. The parser is the one BullMQ's
 * job schedulers use, so whatever passes here is what fires.
 */

const FIELDS = 'second? minute hour day-of-month month day-of-week';

/** Why `cron` is not a 5- or 6-field expression BullMQ can run, or null when it is. */
export function cronProblem(cron: string): string | null {
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  // The parser fills missing fields with defaults ("* * *" parses): count them first.
  if (fields.length !== 5 && fields.length !== 6) {
    return `cron "${cron}" must have 5 or 6 fields (${FIELDS}), got ${fields.length}`;
  }
  try {
    CronExpressionParser.parse(cron);
    return null;
  } catch (error) {
    return `cron "${cron}" is invalid: ${(error as Error).message}`;
  }
}

/** Whether `timezone` is an IANA zone this runtime knows (as the parser's luxon does, through Intl). */
export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** The first tick of `cron` in `timezone` strictly after `after`; null if it never fires again. */
export function nextCronRun(cron: string, timezone: string, after: Date): Date | null {
  const expression = CronExpressionParser.parse(cron, { tz: timezone, currentDate: after });
  return expression.hasNext() ? expression.next().toDate() : null;
}

/**
 * The shortest gap in seconds between consecutive firings among the next
 * `sample` firings of `cron` (null if it fires at most once): the rule
 * "at most once a minute" needs every gap, not the first.
 */
export function shortestCronGapSeconds(cron: string, timezone: string, from: Date = new Date(), sample = 500): number | null {
  const expression = CronExpressionParser.parse(cron, { tz: timezone, currentDate: from });
  let previous: number | null = null;
  let shortest: number | null = null;
  for (let i = 0; i < sample && expression.hasNext(); i++) {
    const at = expression.next().getTime();
    if (previous !== null) shortest = Math.min(shortest ?? Infinity, (at - previous) / 1000);
    previous = at;
  }
  return shortest;
}
