import type { LogLine } from '#libs/queue';

// What Docker's init (tini) writes when it cannot exec the job's command; it then exits 127.
const TINI_EXEC_FAILED = /^\[FATAL tini \(\d+\)\] (exec .* failed: .*)$/;

/**
 * Why the job's command could not be executed, when the container's init
 * said so (exit code 127 and tini's FATAL line on stderr), else null. With
 * an init as PID 1 the container starts even when the command does not exist.
 */
export function initExecFailure(exitCode: number, logs: readonly LogLine[]): string | null {
  if (exitCode !== 127) return null;
  const line = logs.find((l) => l.stream === 'stderr' && TINI_EXEC_FAILED.test(l.text));
  return line ? TINI_EXEC_FAILED.exec(line.text)![1] : null;
}
