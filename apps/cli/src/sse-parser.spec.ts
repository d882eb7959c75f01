import { SseParser } from './sse-parser.js';

describe('the server-sent events parser', () => {
  it('returns whole events across chunk boundaries and skips comments', () => {
    const p = new SseParser();
    expect(p.push(': job x attempt 1\n\nevent: line\ndata: {"te')).toEqual([]);
    expect(p.push('xt":"a"}\n\nevent: end\r\ndata: {}\r\n\r\n')).toEqual([
      { event: 'line', data: '{"text":"a"}' },
      { event: 'end', data: '{}' },
    ]);
  });
});
