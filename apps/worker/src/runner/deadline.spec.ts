import { jest } from '@jest/globals';
import { alarm, MAX_TIMER_MS, timeoutDeadline } from './deadline.js';

describe('timeoutDeadline', () => {
  const before = Date.parse('2026-01-01T00:00:00.000Z');
  const after = before + 40;

  it('has no deadline without a timeout', () => {
    expect(timeoutDeadline(null, '2026-01-01T00:00:00.010Z', before, after)).toBeNull();
    expect(timeoutDeadline(undefined, '2026-01-01T00:00:00.010Z', before, after)).toBeNull();
  });

  it('counts from the container start Docker reports', () => {
    expect(timeoutDeadline(60, '2026-01-01T00:00:00.010Z', before, after)).toBe(before + 10 + 60_000);
  });

  it('keeps the start within what this process saw when the daemon clock differs', () => {
    expect(timeoutDeadline(5, '2025-12-31T23:00:00.000Z', before, after)).toBe(before + 5000);
    expect(timeoutDeadline(5, '2026-01-01T01:00:00.000Z', before, after)).toBe(after + 5000);
    expect(timeoutDeadline(5, 'garbage', before, after)).toBe(after + 5000);
  });

  it('stops at once for a timeout of zero', () => {
    expect(timeoutDeadline(0, '2026-01-01T00:00:00.010Z', before, after)).toBe(before + 10);
  });
});

describe('alarm', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('fires once at the time, not before', () => {
    const fire = jest.fn();
    alarm(Date.now() + 1000, fire);
    jest.advanceTimersByTime(999);
    expect(fire).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(10_000);
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('fires at once for a time that has passed', () => {
    const fire = jest.fn();
    alarm(Date.now() - 5, fire);
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('waits out times beyond the longest setTimeout instead of firing early', () => {
    const fire = jest.fn();
    const at = Date.now() + MAX_TIMER_MS + 60_000;
    alarm(at, fire);
    jest.advanceTimersByTime(MAX_TIMER_MS);
    expect(fire).not.toHaveBeenCalled();
    jest.advanceTimersByTime(60_000);
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('never fires once cancelled', () => {
    const fire = jest.fn();
    const cancel = alarm(Date.now() + 1000, fire);
    cancel();
    jest.advanceTimersByTime(5000);
    expect(fire).not.toHaveBeenCalled();
  });
});
