import { HeartbeatSightings } from './heartbeat-sightings.js';
import { decideDeparted, decideLiveness } from './liveness.js';

const TIMEOUT = 15_000;
const T0 = 1_000_000;

/** A scheduler clock under the test's control. */
class FakeClock {
  constructor(public t = T0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): number {
    return (this.t += ms);
  }
}

describe('decideLiveness: LOST is judged by when the scheduler last heard a changed heartbeat', () => {
  it('keeps a worker whose clock is minutes behind alive while its heartbeat keeps changing', () => {
    const clock = new FakeClock();
    const sightings = new HeartbeatSightings();
    let workerClock = clock.now() - 10 * 60_000;
    for (let i = 0; i < 30; i++) {
      sightings.observe([{ workerId: 'w-slow', heartbeatAt: (workerClock += 2000) }], clock.advance(2000));
      expect(decideLiveness(sightings.all(), new Set(), clock.now(), TIMEOUT, null)).toEqual(new Set());
    }
  });

  it('judges LOST a worker whose heartbeat stops changing for longer than the timeout, whatever its clock says', () => {
    const clock = new FakeClock();
    const sightings = new HeartbeatSightings();
    // Its clock runs minutes ahead: a heartbeatAt "in the future" is no proof of life.
    const beat = clock.now() + 5 * 60_000;
    sightings.observe([{ workerId: 'w-1', heartbeatAt: beat }], clock.now());
    sightings.observe([{ workerId: 'w-1', heartbeatAt: beat + 1 }], clock.advance(1000));
    sightings.observe([{ workerId: 'w-1', heartbeatAt: beat + 1 }], clock.advance(TIMEOUT));
    expect(decideLiveness(sightings.all(), new Set(), clock.now(), TIMEOUT, null)).toEqual(new Set());
    sightings.observe([{ workerId: 'w-1', heartbeatAt: beat + 1 }], clock.advance(1));
    expect(decideLiveness(sightings.all(), new Set(), clock.now(), TIMEOUT, null)).toEqual(new Set(['w-1']));
  });

  it('gives every worker a full period after a leader change, however old its heartbeatAt', () => {
    const clock = new FakeClock();
    const sightings = new HeartbeatSightings(); // a new leader's: it has seen nothing yet
    sightings.observe([{ workerId: 'w-old', heartbeatAt: clock.now() - 3_600_000 }], clock.now());
    expect(decideLiveness(sightings.all(), new Set(), clock.advance(TIMEOUT), TIMEOUT, null)).toEqual(new Set());
    expect(decideLiveness(sightings.all(), new Set(), clock.advance(1), TIMEOUT, null)).toEqual(new Set(['w-old']));
  });

  it('gives every worker a full period after a Redis outage ends', () => {
    const clock = new FakeClock();
    const sightings = new HeartbeatSightings();
    sightings.observe([{ workerId: 'w-1', heartbeatAt: 1 }], clock.now());
    clock.advance(60_000); // reads failed all this time
    const outageEndedAt = clock.now();
    sightings.observe([{ workerId: 'w-1', heartbeatAt: 1 }], clock.now());
    expect(decideLiveness(sightings.all(), new Set(), clock.advance(TIMEOUT), TIMEOUT, outageEndedAt)).toEqual(new Set());
    expect(decideLiveness(sightings.all(), new Set(), clock.advance(1), TIMEOUT, outageEndedAt)).toEqual(new Set(['w-1']));
  });

  it('keeps a LOST worker LOST, even in a new period, until its heartbeat changes', () => {
    const clock = new FakeClock();
    const sightings = new HeartbeatSightings();
    sightings.observe([{ workerId: 'w-1', heartbeatAt: 7 }], clock.now());
    const lost = new Set(['w-1']); // recorded LOST by an earlier leader
    expect(decideLiveness(sightings.all(), lost, clock.advance(1000), TIMEOUT, clock.now())).toEqual(lost);
    sightings.observe([{ workerId: 'w-1', heartbeatAt: 8 }], clock.advance(1000));
    expect(decideLiveness(sightings.all(), lost, clock.now(), TIMEOUT, null)).toEqual(new Set());
    sightings.markLost('w-1');
    expect(decideLiveness(sightings.all(), lost, clock.now(), TIMEOUT, null)).toEqual(lost);
  });
});

describe('decideDeparted: workers whose entry is gone for longer than the timeout', () => {
  it('counts the absence from when this scheduler started watching at the earliest', () => {
    const left = [{ workerId: 'w-gone', leftAt: T0 - 3_600_000 }, { workerId: 'w-just-left', leftAt: T0 + 5000 }];
    expect(decideDeparted(left, T0 + TIMEOUT, TIMEOUT, T0)).toEqual([]);
    expect(decideDeparted(left, T0 + TIMEOUT + 1, TIMEOUT, T0)).toEqual(['w-gone']);
    expect(decideDeparted(left, T0 + 5000 + TIMEOUT + 1, TIMEOUT, T0)).toEqual(['w-gone', 'w-just-left']);
  });
});
