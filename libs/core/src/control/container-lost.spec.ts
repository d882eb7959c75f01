import { attemptOutcome } from '../failure.js';
import { shouldRetry } from '../retry.js';

describe('attemptOutcome: a container its worker no longer runs', () => {
  it('fails it with a reason naming the worker and the attempt, and lets it retry like a lost worker', () => {
    const end = { kind: 'container-lost' as const, workerId: 'w-1', attempt: 2 };
    const outcome = attemptOutcome(end);
    expect(outcome).toEqual({ status: 'FAILED', reason: 'Container lost: worker w-1 no longer runs attempt 2', exitCode: null, retryable: true });
    expect(shouldRetry({ end, outcome, attempt: 2, maxAttempts: 3, rules: [] })).toBe(true);
  });
});
