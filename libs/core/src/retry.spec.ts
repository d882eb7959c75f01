import { attemptOutcome, type AttemptEnd } from './failure.js';
import { globMatches, shouldRetry, type ExitRule } from './retry.js';

const decide = (end: AttemptEnd, rules: ExitRule[], attempt = 1, maxAttempts = 3) =>
  shouldRetry({ end, outcome: attemptOutcome(end), attempt, maxAttempts, rules });
const exit = (code: number): AttemptEnd => ({ kind: 'exited', exitCode: code, oomKilled: false });

describe('globMatches', () => {
  it('matches * and ? against the whole text, literally otherwise', () => {
    expect(globMatches('1*', '137')).toBe(true);
    expect(globMatches('1?', '137')).toBe(false);
    expect(globMatches('CannotPull*', 'CannotPullContainerError: x')).toBe(true);
    expect(globMatches('a.b', 'axb')).toBe(false);
    expect(globMatches('(x)', '(x)')).toBe(true);
    expect(globMatches('*', '')).toBe(true);
    expect(globMatches('a*b*c', 'aXXbYYc')).toBe(true);
    expect(globMatches('a*b*c', 'aXXbYY')).toBe(false);
  });
  it('stays fast on patterns that make backtracking regexes explode', () => {
    // A regex would take tens of seconds here; the linear matcher answers at once.
    expect(globMatches('*e*e*e*e*e*e*e*Z', 'e'.repeat(5000))).toBe(false);
  });
});

describe('shouldRetry', () => {
  it('retries failures while attempts remain when no rule matches', () => {
    expect(decide(exit(3), [])).toBe(true);
    expect(decide(exit(3), [], 3, 3)).toBe(false);
    expect(decide(exit(0), [])).toBe(false);
  });
  it('lets the first matching rule decide', () => {
    const rules: ExitRule[] = [{ onExitCode: '3', action: 'EXIT' }, { onExitCode: '*', action: 'RETRY' }];
    expect(decide(exit(3), rules)).toBe(false);
    expect(decide(exit(4), rules)).toBe(true);
  });
  it('needs every pattern of a rule to match', () => {
    const rules: ExitRule[] = [{ onExitCode: '137', onReason: 'OutOfMemoryError*', action: 'EXIT' }];
    expect(decide({ kind: 'exited', exitCode: 137, oomKilled: true }, rules)).toBe(false);
    expect(decide(exit(137), rules)).toBe(true);
  });
  it('matches reasons of failures without an exit code', () => {
    expect(decide({ kind: 'pull-failed', message: 'no such image' }, [{ onReason: 'CannotPullContainerError*', action: 'EXIT' }])).toBe(false);
    expect(decide({ kind: 'pull-failed', message: 'x' }, [{ onExitCode: '*', action: 'EXIT' }])).toBe(true);
  });
  it('does not retry a timeout unless a rule says so, and never a terminate', () => {
    const timeout: AttemptEnd = { kind: 'timeout', timeoutSeconds: 5, exitCode: 143 };
    expect(decide(timeout, [])).toBe(false);
    expect(decide(timeout, [{ onStatusReason: 'Job attempt duration exceeded timeout', action: 'RETRY' }])).toBe(true);
    expect(decide({ kind: 'terminated', reason: 'stop', exitCode: 137 }, [{ onExitCode: '*', action: 'RETRY' }])).toBe(false);
  });
  it('retries a lost worker\'s attempt', () => {
    expect(decide({ kind: 'worker-lost', workerId: 'w' }, [])).toBe(true);
  });
});
