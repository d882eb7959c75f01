import { parseSse } from './api';

describe('the dashboard\'s event-stream parser', () => {
  it('splits complete events, keeps a partial one for the next chunk, and skips comments', () => {
    const first = parseSse(': job j attempt 1\n\nevent: line\ndata: {"text":"a"}\n\nevent: li');
    expect(first.events).toEqual([{ event: 'line', data: '{"text":"a"}' }]);
    const second = parseSse(`${first.rest}ne\r\ndata: {"text":"b"}\r\n\r\nevent: end\ndata: {}\n\n`);
    expect(second.events).toEqual([{ event: 'line', data: '{"text":"b"}' }, { event: 'end', data: '{}' }]);
    expect(second.rest).toBe('');
  });

  it('joins multi-line data', () => {
    expect(parseSse('data: one\ndata: two\n\n').events).toEqual([{ event: 'message', data: 'one\ntwo' }]);
  });
});
