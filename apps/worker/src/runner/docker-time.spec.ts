import { dockerTime, stopTime } from './docker-time.js';

describe('Docker times', () => {
  it('turns RFC 3339 nanosecond times into ISO strings', () => {
    expect(dockerTime('2026-11-21T22:56:24.843955988Z')).toBe('2026-11-21T22:56:24.843Z');
  });

  it('refuses a time it cannot read', () => {
    expect(() => dockerTime('soon')).toThrow('Docker returned an unreadable time: "soon"');
  });

  it('never stops before the start (as Docker reports for containers that exit at once)', () => {
    const started = dockerTime('2026-11-21T22:56:24.843955988Z');
    const finished = dockerTime('2026-11-21T22:56:24.842407527Z');
    expect(stopTime(started, finished)).toBe(started);
    expect(stopTime(started, '2026-11-21T22:56:25.000Z')).toBe('2026-11-21T22:56:25.000Z');
  });
});
