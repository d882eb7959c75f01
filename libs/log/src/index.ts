import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON logger per process; `component` tells which app wrote the line. */
export function createLogger(component: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: component, level, base: { component },
    // Credentials never reach a log line, whatever object a caller logs.
    redact: { paths: ['authorization', 'headers.authorization', 'req.headers.authorization', 'request.headers.authorization', '*.authorization', 'token', 'secret'], censor: '[redacted]' },
  });
}
