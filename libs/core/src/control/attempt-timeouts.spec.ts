import { decideTimeouts, type TimedAttempt } from './attempt-timeouts.js';
import { HeartbeatSightings } from './heartbeat-sightings.js';

const T0 = 1_000_000;
const GRACE = 60_000;
const SILENCE = 10_000;

describe('decideTimeouts: attempts past timeout and grace whose worker stopped reporting on them', () => {
  const attempt: TimedAttempt = { workerId: 'w-1', key: 'job#1', startedAt: T0, timeoutSeconds: 60 };

  it('ends an attempt past timeout plus grace whose worker went silent, billed to its last word', () => {
    const s = new HeartbeatSightings();
    for (let t = T0; t <= T0 + 30_000; t += 2000) s.observe([{ workerId: 'w-1', heartbeatAt: t, attempts: ['job#1'] }], t);
    expect(decideTimeouts([attempt], s, T0 + 120_000, GRACE, SILENCE, T0)).toEqual([]);
    expect(decideTimeouts([attempt], s, T0 + 120_001, GRACE, SILENCE, T0)).toEqual([{ ...attempt, stoppedAt: T0 + 30_000 }]);
  });

  it('leaves an attempt its worker still lists past the deadline: the worker is stopping it', () => {
    const s = new HeartbeatSightings();
    for (let t = T0; t <= T0 + 200_000; t += 2000) s.observe([{ workerId: 'w-1', heartbeatAt: t, attempts: ['job#1'] }], t);
    expect(decideTimeouts([attempt], s, T0 + 200_000, GRACE, SILENCE, T0)).toEqual([]);
  });

  it('measures the run on the worker\'s clock, so a worker clock minutes behind does not cut it short', () => {
    const s = new HeartbeatSightings();
    const behind = 10 * 60_000;
    const started: TimedAttempt = { ...attempt, startedAt: T0 - behind };
    s.observe([{ workerId: 'w-1', heartbeatAt: T0 - behind, attempts: [] }], T0);
    // 100 s after the start by the scheduler's clock is 100 s by the worker's too: not yet past 60 s + 60 s grace.
    expect(decideTimeouts([started], s, T0 + 100_000, GRACE, SILENCE, T0)).toEqual([]);
    expect(decideTimeouts([started], s, T0 + 120_001, GRACE, SILENCE, T0)).toEqual([{ ...started, stoppedAt: T0 - behind + 60_000 }]);
  });

  it('counts silence from when this scheduler started watching, and ends attempts of a worker whose entry is gone', () => {
    expect(decideTimeouts([attempt], new HeartbeatSightings(), T0 + 130_000, GRACE, SILENCE, T0 + 125_000)).toEqual([]);
    expect(decideTimeouts([attempt], new HeartbeatSightings(), T0 + 136_000, GRACE, SILENCE, T0 + 125_000))
      .toEqual([{ ...attempt, stoppedAt: T0 + 60_000 }]);
  });

  it('treats each beat of a worker that does not list attempts as a report on all of them', () => {
    const s = new HeartbeatSightings();
    for (let t = T0; t <= T0 + 200_000; t += 2000) s.observe([{ workerId: 'w-1', heartbeatAt: t }], t);
    expect(decideTimeouts([attempt], s, T0 + 200_000, GRACE, SILENCE, T0)).toEqual([]);
    expect(decideTimeouts([attempt], s, T0 + 211_000, GRACE, SILENCE, T0)).toEqual([{ ...attempt, stoppedAt: T0 + 60_000 }]);
  });
});
