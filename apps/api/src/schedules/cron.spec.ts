import { shortestCronGapSeconds } from './cron.js';

describe('shortestCronGapSeconds', () => {
  const from = new Date('2026-11-30T00:00:00Z');
  it('finds the shortest gap between firings, not only the first', () => {
    expect(shortestCronGapSeconds('* * * * *', 'UTC', from)).toBe(60);
    expect(shortestCronGapSeconds('*/30 * * * * *', 'UTC', from)).toBe(30);
    expect(shortestCronGapSeconds('0,10 3 * * *', 'UTC', from)).toBe(600);
    expect(shortestCronGapSeconds('0 0,1 * * * *', 'UTC', from)).toBe(60);
    expect(shortestCronGapSeconds('0 3 * * *', 'UTC', from)).toBe(86_400);
  });
});
