interface DockerodeError extends Error {
  statusCode?: number;
  json?: { message?: string } | null;
}

/** HTTP status of a dockerode error, if the daemon answered. */
export function dockerStatus(error: unknown): number | undefined {
  return (error as DockerodeError | null)?.statusCode;
}

/** The daemon's own words for a failed request, without dockerode's "(HTTP code N) ... - " prefix. */
export function dockerErrorMessage(error: unknown): string {
  const e = error as DockerodeError | null;
  if (e?.json?.message) return e.json.message.trim();
  const message = e?.message ?? String(error);
  return message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}
