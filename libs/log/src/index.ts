import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Fields that may hold secret or private values, wherever they appear in a
 * logged object (one and two levels down): their values are replaced by
 * [Redacted]. Code should never log them; this is the second line.
 */
export const REDACTED_PATHS = [
  'secretEnvironment', '*.secretEnvironment', '*.*.secretEnvironment',
  'environment', '*.environment', '*.*.environment',
  'Env', '*.Env', '*.*.Env',
  // Pull credentials in a dispatch payload, and the password of a registry credential request.
  'registryAuth', '*.registryAuth', '*.*.registryAuth', 'password', '*.password', 'authconfig', '*.authconfig',
  'req.headers.authorization', 'req.headers["x-api-key"]',
  // Credentials, whatever object a caller logs.
  'authorization', 'headers.authorization', 'request.headers.authorization', '*.authorization', 'token', 'secret',
];

/** One JSON logger per process; `component` tells which app wrote the line. */
export function createLogger(component: string, level: string = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  const options = { name: component, level, base: { component }, redact: { paths: REDACTED_PATHS, censor: '[Redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
