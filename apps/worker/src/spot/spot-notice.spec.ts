import { noticeDeadline } from './spot-notice.js';

describe('the spot notice', () => {
  const now = Date.parse('2026-12-02T11:00:00Z');

  it('takes the deadline from AWS\'s instance-action time', () => {
    expect(noticeDeadline('{"action":"terminate","time":"2026-12-02T11:02:00Z"}', now)).toBe(Date.parse('2026-12-02T11:02:00Z'));
  });

  it('gives two minutes when the notice has no readable time', () => {
    expect(noticeDeadline('{"action":"stop"}', now)).toBe(now + 120_000);
    expect(noticeDeadline('not json', now)).toBe(now + 120_000);
  });
});
