import { attemptOutcome } from './failure.js';

describe('attemptOutcome', () => {
  it('succeeds on exit 0', () => {
    expect(attemptOutcome({ kind: 'exited', exitCode: 0, oomKilled: false })).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
  });
  it('fails a non-zero exit with the AWS Batch reason', () => {
    expect(attemptOutcome({ kind: 'exited', exitCode: 3, oomKilled: false }))
      .toEqual({ status: 'FAILED', reason: 'Essential container exited with code 3', exitCode: 3, retryable: true });
  });
  it('tells an OOM kill apart from other kills', () => {
    expect(attemptOutcome({ kind: 'exited', exitCode: 137, oomKilled: true }).reason)
      .toBe('OutOfMemoryError: Container killed due to memory usage');
    expect(attemptOutcome({ kind: 'exited', exitCode: 137, oomKilled: false }).reason).toBe('Essential container exited with code 137');
  });
  it('names image pull and start failures', () => {
    expect(attemptOutcome({ kind: 'pull-failed', message: 'no such image' }))
      .toEqual({ status: 'FAILED', reason: 'CannotPullContainerError: no such image', exitCode: null, retryable: true });
    expect(attemptOutcome({ kind: 'start-failed', message: 'boom' }).reason).toBe('CannotStartContainerError: boom');
  });
  it('does not retry a timeout or a terminate, and retries a lost worker\'s attempt', () => {
    expect(attemptOutcome({ kind: 'timeout', timeoutSeconds: 5, exitCode: 143 }))
      .toEqual({ status: 'FAILED', reason: 'Job attempt duration exceeded timeout', exitCode: 143, retryable: false });
    expect(attemptOutcome({ kind: 'terminated', reason: 'wrong data', exitCode: 137 }))
      .toEqual({ status: 'FAILED', reason: 'wrong data', exitCode: 137, retryable: false });
    expect(attemptOutcome({ kind: 'worker-lost', workerId: 'w-3' }))
      .toEqual({ status: 'FAILED', reason: 'Worker lost: w-3', exitCode: null, retryable: true });
  });
});
