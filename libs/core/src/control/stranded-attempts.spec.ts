import { HeartbeatSightings } from './heartbeat-sightings.js';
import { decideStrandedAttempts, type HeldAttempt } from './stranded-attempts.js';

const GRACE = 10_000;
const T0 = 1_000_000;

/** A worker beating every 2 s (its clock 5 minutes behind), listing what `listed(t)` says. */
function beats(s: HeartbeatSightings, from: number, to: number, listed: (t: number) => string[] | undefined): void {
  for (let t = from; t <= to; t += 2000) s.observe([{ workerId: 'w-1', heartbeatAt: t - 300_000, attempts: listed(t) }], t);
}

describe('decideStrandedAttempts: held attempts a live worker no longer runs', () => {
  const running: HeldAttempt = { workerId: 'w-1', key: 'job-a#2', heldSince: T0 };

  it('finds an attempt the worker stopped listing, once its beats have omitted it for the grace', () => {
    const s = new HeartbeatSightings();
    beats(s, T0, T0 + 20_000, () => ['job-a#2']);
    beats(s, T0 + 22_000, T0 + 30_000, () => []);
    expect(decideStrandedAttempts([running], s, GRACE, T0)).toEqual([]);
    beats(s, T0 + 32_000, T0 + 32_000, () => []);
    expect(decideStrandedAttempts([running], s, GRACE, T0)).toEqual([{ ...running, lastHeldAt: T0 + 20_000 - 300_000 }]);
  });

  it('leaves an attempt dispatched moments ago that the worker has not claimed yet', () => {
    const s = new HeartbeatSightings();
    const justPlaced: HeldAttempt = { workerId: 'w-1', key: 'job-b#1', heldSince: T0 + 9000 };
    beats(s, T0, T0 + 18_000, () => []);
    expect(decideStrandedAttempts([justPlaced], s, GRACE, T0)).toEqual([]);
    beats(s, T0 + 20_000, T0 + 20_000, () => []);
    expect(decideStrandedAttempts([justPlaced], s, GRACE, T0)).toHaveLength(1);
  });

  it('judges nothing from a worker that does not list attempts, from a silent one, or from a LOST one', () => {
    const old = new HeartbeatSightings();
    beats(old, T0, T0 + 60_000, () => undefined);
    expect(decideStrandedAttempts([running], old, GRACE, T0)).toEqual([]);

    const silent = new HeartbeatSightings();
    beats(silent, T0, T0, () => []);
    expect(decideStrandedAttempts([running], silent, GRACE, T0)).toEqual([]);

    const lost = new HeartbeatSightings();
    beats(lost, T0, T0 + 60_000, () => []);
    expect(decideStrandedAttempts([running], lost, GRACE, T0, new Set(['w-1']))).toEqual([]);
  });

  it('waits a full grace after this scheduler started watching (a leader change or a Redis outage)', () => {
    const s = new HeartbeatSightings();
    beats(s, T0, T0 + 30_000, () => []);
    expect(decideStrandedAttempts([running], s, GRACE, T0 + 25_000)).toEqual([]);
    beats(s, T0 + 36_000, T0 + 36_000, () => []);
    expect(decideStrandedAttempts([running], s, GRACE, T0 + 25_000)).toHaveLength(1);
  });
});
