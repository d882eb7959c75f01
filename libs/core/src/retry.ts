import type { AttemptEnd, AttemptOutcome } from './failure.js';

/** One `retryStrategy.evaluateOnExit` rule, as in AWS Batch; the first that matches decides. */
export interface ExitRule {
  onExitCode?: string;
  onReason?: string;
  onStatusReason?: string;
  action: 'RETRY' | 'EXIT';
}

export const MAX_EXIT_RULES = 5;

/**
 * Glob with `*` (any run of characters) and `?` (one character), matched
 * against the whole text. Linear-time (no regular expression): patterns and
 * reasons are user input, and backtracking on `*a*a*a*b` would stall the
 * scheduler leader.
 */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

function ruleMatches(rule: ExitRule, outcome: AttemptOutcome): boolean {
  const checks: [string | undefined, string | null][] = [
    [rule.onExitCode, outcome.exitCode === null ? null : String(outcome.exitCode)],
    [rule.onReason, outcome.reason],
    [rule.onStatusReason, outcome.reason],
  ];
  return checks.every(([pattern, value]) => pattern === undefined || (value !== null && globMatches(pattern, value)));
}

/**
 * Whether a finished attempt goes back to RUNNABLE. Never after success, a
 * terminate, or the last attempt. Otherwise the first matching rule decides;
 * with none, a failure retries unless it was a timeout (AWS Batch's rule).
 */
export function shouldRetry(input: { end: AttemptEnd; outcome: AttemptOutcome; attempt: number; maxAttempts: number; rules: readonly ExitRule[] }): boolean {
  const { end, outcome, attempt, maxAttempts, rules } = input;
  if (outcome.status === 'SUCCEEDED' || end.kind === 'terminated' || attempt >= maxAttempts) return false;
  const rule = rules.find((r) => ruleMatches(r, outcome));
  return rule ? rule.action === 'RETRY' : outcome.retryable;
}
