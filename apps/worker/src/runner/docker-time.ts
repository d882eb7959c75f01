/** Docker's RFC 3339 nanosecond times as ISO strings (millisecond precision). */
export function dockerTime(value: string): string {
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new Error(`Docker returned an unreadable time: "${value}"`);
  return time.toISOString();
}

/**
 * The stop time to report. Docker stamps StartedAt after the runtime returns
 * and FinishedAt from the exit event, so a container that exits at once can
 * "stop" a fraction of a millisecond before it started.
 */
export function stopTime(startedAt: string, finishedAt: string): string {
  return Date.parse(finishedAt) < Date.parse(startedAt) ? startedAt : finishedAt;
}
