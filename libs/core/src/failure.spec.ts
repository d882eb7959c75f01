import { attemptOutcome } from './failure.js';

describe('attemptOutcome', () => {
  it('succeeds on exit 0', () => {
    expect(attemptOutcome({ kind: 'exited', exitCode: 0, oomKilled: false })).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
  });
  it('fails a non-zero exit with the AWS Batch reason', () => {
    expect(attemptOutcome({ kind: 'exited', exitCode: 3, oomKilled: false }))
      .toEqual({ status: 'FAILED', reason: 'Essential container exited with code 3', exitCode: 3 });
  });
  it('tells an OOM kill apart from other kills', () => {
    expect(attemptOutcome({ kind: 'exited', exitCode: 137, oomKilled: true }).reason)
      .toBe('OutOfMemoryError: Container killed due to memory usage');
    expect(attemptOutcome({ kind: 'exited', exitCode: 137, oomKilled: false }).reason).toBe('Essential container exited with code 137');
  });
  it('names image pull and start failures', () => {
    expect(attemptOutcome({ kind: 'pull-failed', message: 'no such image' }))
      .toEqual({ status: 'FAILED', reason: 'CannotPullContainerError: no such image', exitCode: null });
    expect(attemptOutcome({ kind: 'start-failed', message: 'boom' }).reason).toBe('CannotStartContainerError: boom');
  });
});
