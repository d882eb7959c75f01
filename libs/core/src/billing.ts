/**
 * Seconds billed for an attempt: the container's real runtime rounded up to
 * the whole second (per-second billing, like AWS), never negative.
 */
export function billedSeconds(startedAt: Date, stoppedAt: Date): number {
  const ms = stoppedAt.getTime() - startedAt.getTime();
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}
