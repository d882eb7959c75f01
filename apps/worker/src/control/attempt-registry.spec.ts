import { AttemptRegistry } from './attempt-registry.js';

describe('AttemptRegistry', () => {
  let clock = 0;
  const registry = (over: { pendingTtlMs?: number; maxPending?: number } = {}) =>
    new AttemptRegistry({ pendingTtlMs: 1000, maxPending: 100, now: () => clock, ...over });

  beforeEach(() => {
    clock = 0;
  });

  it('aborts a claimed attempt with the terminate reason', () => {
    const attempts = registry();
    const claimed = attempts.claim('job-1', 1);
    expect(claimed.signal.aborted).toBe(false);
    expect(attempts.terminate({ jobId: 'job-1', attempt: 1, reason: 'wrong input' })).toBe('stopping');
    expect(claimed.signal.aborted).toBe(true);
    expect(claimed.signal.reason).toBe('wrong input');
    expect(attempts.terminate({ jobId: 'job-1', attempt: 1, reason: 'again' })).toBe('already-stopping');
    expect(claimed.signal.reason).toBe('wrong input');
  });

  it('leaves other attempts, and other attempts of the same job, alone', () => {
    const attempts = registry();
    const first = attempts.claim('job-1', 1);
    const other = attempts.claim('job-2', 1);
    attempts.terminate({ jobId: 'job-1', attempt: 2, reason: 'later attempt' });
    expect(first.signal.aborted).toBe(false);
    expect(other.signal.aborted).toBe(false);
  });

  it('keeps a terminate that overtook the claim, and hands it to the claim', () => {
    const attempts = registry();
    expect(attempts.terminate({ jobId: 'job-1', attempt: 1, reason: 'early' })).toBe('remembered');
    expect(attempts.pendingCount).toBe(1);
    const claimed = attempts.claim('job-1', 1);
    expect(claimed.signal.aborted).toBe(true);
    expect(claimed.signal.reason).toBe('early');
    expect(attempts.pendingCount).toBe(0);
    // Used once: a later claim of the same attempt runs.
    claimed.release();
    expect(attempts.claim('job-1', 1).signal.aborted).toBe(false);
  });

  it('forgets a kept terminate after its time to live', () => {
    const attempts = registry({ pendingTtlMs: 1000 });
    attempts.terminate({ jobId: 'job-1', attempt: 1, reason: 'early' });
    clock = 999;
    attempts.terminate({ jobId: 'job-2', attempt: 1, reason: 'early' });
    clock = 1000;
    expect(attempts.pendingCount).toBe(1);
    expect(attempts.claim('job-1', 1).signal.aborted).toBe(false);
    expect(attempts.claim('job-2', 1).signal.aborted).toBe(true);
  });

  it('keeps at most maxPending terminates, dropping the oldest', () => {
    const attempts = registry({ maxPending: 3 });
    for (let i = 0; i < 5; i++) attempts.terminate({ jobId: `job-${i}`, attempt: 1, reason: 'early' });
    expect(attempts.pendingCount).toBe(3);
    expect(attempts.claim('job-0', 1).signal.aborted).toBe(false);
    expect(attempts.claim('job-1', 1).signal.aborted).toBe(false);
    expect(attempts.claim('job-4', 1).signal.aborted).toBe(true);
  });

  it('forgets a released attempt: a terminate after the end is only kept', () => {
    const attempts = registry();
    const claimed = attempts.claim('job-1', 1);
    claimed.release();
    expect(attempts.claimedCount).toBe(0);
    expect(attempts.terminate({ jobId: 'job-1', attempt: 1, reason: 'late' })).toBe('remembered');
    expect(claimed.signal.aborted).toBe(false);
  });

  it('lists the held attempts and tells when one is released', async () => {
    const attempts = registry();
    const first = attempts.claim('job-1', 1);
    attempts.claim('job-2:0', 2);
    expect(attempts.heldKeys().sort()).toEqual(['job-1#1', 'job-2:0#2']);
    const released = attempts.whenReleased('job-1', 1);
    expect(released).toBeDefined();
    expect(attempts.whenReleased('job-1', 2)).toBeUndefined();
    first.release();
    await expect(released).resolves.toBeUndefined();
    expect(attempts.heldKeys()).toEqual(['job-2:0#2']);
    expect(attempts.whenReleased('job-1', 1)).toBeUndefined();
  });
});
