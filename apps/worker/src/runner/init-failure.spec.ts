import { initExecFailure } from './init-failure.js';

const at = '2025-01-01T00:00:00.000Z';

describe('initExecFailure', () => {
  it("reads tini's exec failure from a 127 exit", () => {
    const logs = [{ stream: 'stderr' as const, at, text: '[FATAL tini (8)] exec /no/such/binary failed: No such file or directory' }];
    expect(initExecFailure(127, logs)).toBe('exec /no/such/binary failed: No such file or directory');
  });

  it('is null for a 127 the job itself chose, or another exit code', () => {
    expect(initExecFailure(127, [{ stream: 'stderr', at, text: 'sh: foo: not found' }])).toBeNull();
    expect(initExecFailure(1, [{ stream: 'stderr', at, text: '[FATAL tini (8)] exec x failed: y' }])).toBeNull();
    expect(initExecFailure(127, [{ stream: 'stdout', at, text: '[FATAL tini (8)] exec x failed: y' }])).toBeNull();
  });
});
