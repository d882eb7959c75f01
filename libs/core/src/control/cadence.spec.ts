import { Cadence } from './cadence.js';

describe('Cadence: when a periodic task is due, by the clock it is given', () => {
  it('runs first after its first delay, then every period after the last run', () => {
    const c = new Cadence(1000, 5000, 60_000);
    expect(c.due(5000)).toBe(false);
    expect(c.due(64_999)).toBe(false);
    expect(c.due(65_000)).toBe(true);
    expect(c.due(65_500)).toBe(false);
    expect(c.due(66_200)).toBe(true);
    expect(c.due(67_100)).toBe(false);
    expect(c.due(67_200)).toBe(true);
  });

  it('is due at once without a first delay, and when hurried', () => {
    const c = new Cadence(10_000, 0);
    expect(c.due(0)).toBe(true);
    expect(c.due(1)).toBe(false);
    c.hurry();
    expect(c.due(2)).toBe(true);
    expect(c.due(3)).toBe(false);
  });
});
