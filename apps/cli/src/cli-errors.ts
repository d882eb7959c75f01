/**
 * Exit codes of the CLI (besides `submit --wait`, which exits with the
 * job's own exit code): documented in docs/cli.md.
 */
export const EXIT = {
  OK: 0,
  /** The API refused the request (bad key, no right, not found, invalid), or a job failed without an exit code. */
  REFUSED: 1,
  /** The command line itself is wrong: an unknown flag, a bad value, a missing file. */
  USAGE: 2,
  /** The endpoint did not answer: nothing listens there, or it is unreachable. */
  UNREACHABLE: 3,
  /** No endpoint or key configured. */
  NOT_CONFIGURED: 4,
} as const;

/** An error the CLI prints as one clear line and exits with its code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'CliError';
  }
}

/** The command line is wrong; the message names the flag. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
    this.name = 'UsageError';
  }
}

/** The API answered with an error: its status, stable code and message. */
export class ApiRequestError extends CliError {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message, EXIT.REFUSED);
    this.name = 'ApiRequestError';
  }
}
