import { canonicalJson, signReport, verifyReport } from './report-signing.js';
import { redisUrlWithCredentials, workerAclUsername, workerKeyPatterns } from './worker-acl.js';
import type { AttemptExitedEvent } from './payloads.js';

const exited: AttemptExitedEvent = {
  type: 'attempt-exited', jobId: 'j-1', attempt: 2, workerId: 'w-1', containerId: 'c', startedAt: '2026-12-01T00:00:00.000Z',
  stoppedAt: '2026-12-01T00:01:00.000Z', end: { kind: 'exited', exitCode: 0, oomKilled: false }, logs: [{ stream: 'stdout', at: '2026-12-01T00:00:01.000Z', text: 'hi' }],
  logsTruncated: false,
};
const KEY = 'a'.repeat(64);

describe('report signing', () => {
  it('canonical JSON sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: undefined }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"f":2}]},"b":1}');
  });

  it('a signed report verifies with its key, whatever the key order it travels in', () => {
    const signed = signReport(exited, KEY);
    expect(verifyReport(signed, KEY)).toBe(true);
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(signed).reverse())));
    expect(verifyReport(reordered, KEY)).toBe(true);
  });

  it('refuses an unsigned report, another key, a changed field and a re-used signature', () => {
    const signed = signReport(exited, KEY);
    expect(verifyReport(exited, KEY)).toBe(false);
    expect(verifyReport(signed, 'b'.repeat(64))).toBe(false);
    expect(verifyReport({ ...signed, end: { kind: 'exited', exitCode: 1, oomKilled: false } }, KEY)).toBe(false);
    expect(verifyReport({ ...signed, attempt: 3 }, KEY)).toBe(false);
    expect(verifyReport({ ...signed, signature: 'zz' }, KEY)).toBe(false);
  });
});

describe('worker ACL', () => {
  it('lets a worker reach its own queues and heartbeat, the events queue, and read the drain set', () => {
    expect(workerAclUsername('w-1')).toBe('gpubatch-worker-w-1');
    expect(workerKeyPatterns('w-1')).toEqual([
      '~bull:dispatch.w-1:*', '~bull:control.w-1:*', '~bull:events:*', '~gpubatch:worker:w-1', '~gpubatch:logs:w-1:*', '%R~gpubatch:drain',
    ]);
  });

  it('refuses worker ids that would widen a pattern', () => {
    for (const id of ['*', 'w?', 'w[1]', 'a:b', '', 'x'.repeat(129)]) expect(() => workerKeyPatterns(id)).toThrow(/invalid worker id/);
  });

  it('puts a worker\'s credentials into a Redis URL', () => {
    expect(redisUrlWithCredentials('redis://redis:6379/2', 'gpubatch-worker-w', 'p@ss')).toBe('redis://gpubatch-worker-w:p%40ss@redis:6379/2');
  });
});
