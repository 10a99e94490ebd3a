// One JSON logger for the process. Secrets are never passed to it: callers log descriptions, not values.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { name: 'postgres-apiserver' } });
}
