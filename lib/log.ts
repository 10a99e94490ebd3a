// One JSON logger for the process. Secrets are never passed to it: callers log descriptions, not values.
// Lines carry ISO 8601 times and level names; the program is `service` (pino's `name` would clash with an
// object's name).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'postgres-apiserver' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
