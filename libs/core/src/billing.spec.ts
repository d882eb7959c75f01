import { billedSeconds } from './billing.js';

describe('billedSeconds', () => {
  const t0 = new Date('2026-11-21T10:00:00.000Z');
  it('rounds the real runtime up to the whole second', () => {
    expect(billedSeconds(t0, new Date(t0.getTime() + 1))).toBe(1);
    expect(billedSeconds(t0, new Date(t0.getTime() + 1000))).toBe(1);
    expect(billedSeconds(t0, new Date(t0.getTime() + 61_500))).toBe(62);
  });
  it('bills nothing for no runtime or clocks that went backwards', () => {
    expect(billedSeconds(t0, t0)).toBe(0);
    expect(billedSeconds(t0, new Date(t0.getTime() - 5000))).toBe(0);
  });
});
