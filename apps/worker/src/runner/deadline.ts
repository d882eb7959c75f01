/** setTimeout fires at once for delays above 2^31 - 1 ms (about 24.8 days): longer waits go in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Epoch ms at which an attempt with `timeoutSeconds` must be stopped, or null
 * without a timeout. The clock starts at the container's real start
 * (Docker's StartedAt), kept within what this process saw around the start
 * call (`before`..`after`, epoch ms) in case the daemon's clock differs.
 */
export function timeoutDeadline(timeoutSeconds: number | null | undefined, startedAt: string, before: number, after: number): number | null {
  if (timeoutSeconds === null || timeoutSeconds === undefined) return null;
  const reported = Date.parse(startedAt);
  const started = Number.isNaN(reported) ? after : Math.min(after, Math.max(before, reported));
  return started + Math.max(0, timeoutSeconds) * 1000;
}

/** Calls `fire` once at epoch ms `at` (at once if it has passed); the returned function cancels it. */
export function alarm(at: number, fire: () => void, now: () => number = Date.now): () => void {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const arm = () => {
    if (cancelled) return;
    const left = at - now();
    // Node may wake a timer a millisecond early: re-arm until the time has really come.
    if (left <= 0) {
      cancelled = true;
      fire();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
  };
  arm();
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}
