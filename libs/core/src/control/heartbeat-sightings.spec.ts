import { HeartbeatSightings } from './heartbeat-sightings.js';

describe('HeartbeatSightings: heartbeat entries as the scheduler saw them change', () => {
  it('records when an entry changed by the scheduler clock, and when each attempt was last listed', () => {
    const s = new HeartbeatSightings();
    expect(s.observe([{ workerId: 'w', heartbeatAt: 10, attempts: ['j#1'] }], 100)).toEqual([]);
    expect(s.get('w')).toMatchObject({ firstSeenAt: 100, lastHeardAt: 100, changedSinceMark: false, heartbeatAt: 10, firstHeartbeatAt: 10 });
    expect(s.observe([{ workerId: 'w', heartbeatAt: 10, attempts: ['j#1'] }], 200)).toEqual([]);
    expect(s.get('w')!.lastHeardAt).toBe(100);
    expect(s.observe([{ workerId: 'w', heartbeatAt: 12, attempts: ['j#2'] }], 300)).toEqual(['w']);
    expect(s.get('w')).toMatchObject({ lastHeardAt: 300, changedSinceMark: true, heartbeatAt: 12, listed: new Set(['j#2']) });
    expect(s.listing('w', 'j#1')).toEqual({ lastListedAt: 100, workerHeartbeatAt: 10 });
    expect(s.listing('w', 'j#2')).toEqual({ lastListedAt: 300, workerHeartbeatAt: 12 });
  });

  it('forgets entries gone from the reading, and listings past the kept window', () => {
    const s = new HeartbeatSightings(1000);
    s.observe([{ workerId: 'a', heartbeatAt: 1, attempts: ['j#1'] }, { workerId: 'b', heartbeatAt: 1 }], 0);
    s.observe([{ workerId: 'a', heartbeatAt: 2, attempts: [] }], 500);
    expect(s.get('b')).toBeUndefined();
    expect(s.listing('a', 'j#1')).toBeDefined();
    s.observe([{ workerId: 'a', heartbeatAt: 3, attempts: [] }], 1001);
    expect(s.listing('a', 'j#1')).toBeUndefined();
  });
});
