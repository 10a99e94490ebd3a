// One JSON logger for the process. Secrets are never passed to it: callers log descriptions, not values.
// Lines carry ISO 8601 times and level names; the program is `service` (pino's `name` would clash with an
// object's name).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'postgres-apiserver' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Errors that are mistakes in this program, whose stack says where: every other failure is logged by its message. */
const bugs = [TypeError, RangeError, ReferenceError, SyntaxError];

/**
 * The fields that log a failure: its reason in one line, or the whole error with its stack when it is a bug. A
 * fault met talking to a server (a CatalogError, a refused write) is the environment's, not the program's.
 */
export function failure(error: unknown): { reason: string } | { err: unknown } {
  if (bugs.some((kind) => error instanceof kind)) return { err: error };
  return { reason: error instanceof Error ? error.message : String(error) };
}
