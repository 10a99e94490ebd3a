// Connections to PostgreSQL that cannot take the process down. pg emits 'error' on a client whose server goes
// away, and an 'error' with no listener is thrown by Node: a pool listens on its idle clients only, not on
// those checked out, so every client gets a listener of its own. The query under way is rejected all the
// same, and the pool replaces the broken client.
import pg from 'pg';

const ignore = () => undefined;

export function guardedPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', ignore);
  pool.on('connect', (client) => client.on('error', ignore));
  return pool;
}

/** A client whose faults reach only the calls under way (and `onError`, if given). */
export function guardedClient(config: pg.ClientConfig, onError: (error: Error) => void = ignore): pg.Client {
  const client = new pg.Client(config);
  client.on('error', onError);
  return client;
}

const unreachableErrnos = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
// SQLSTATEs that say the server cannot serve now: too many connections, shutting down, starting up.
const unavailableSqlstates = new Set(['53300', '57P01', '57P02', '57P03']);
// pg's own words when the socket closed, or no connection came within connectionTimeoutMillis.
const lostConnection = /^Connection terminated|timeout exceeded when trying to connect|is not queryable/;

/** Whether an error says the server was not reached (or went away), rather than that a statement failed. */
export function isConnectionFault(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (unreachableErrnos.has(code) || unavailableSqlstates.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && lostConnection.test(message);
}
