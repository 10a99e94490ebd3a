// Connections to PostgreSQL that cannot take the process down. pg emits 'error' on a client whose server goes
// away, and an 'error' with no listener is thrown by Node: a pool listens on its idle clients only, not on
// those checked out, so every client gets a listener of its own. The query under way is rejected all the
// same, and the pool replaces the broken client.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { getOrAdd } from '../lib/maps.ts';

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

/** A prepared statement's name: a digest of its text, the same on every connection (the texts are the code's own). */
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  return getOrAdd(statementNames, text, () => `pgapi_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
}

/** A prepared statement unknown to the server connection (26000), or its name taken there (42P05): a pooler moved the session. */
function preparedStatementLost(error: unknown): boolean {
  const { code } = (error ?? {}) as { code?: unknown };
  return code === '26000' || code === '42P05';
}

type Sender = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/**
 * How many values the longest array parameter holds, in steps of 8 times: 1, up to 8, up to 64, … A statement is
 * prepared apart for each step. Where PostgreSQL may keep a generic plan (the store's connections, or a catalog
 * connection whose plan_cache_mode a pooler dropped), it keeps one found as good as the plans made for the values
 * it was given: judged on a write's one role, it can be far worse for a list's 500 (three times the catalog time
 * of a list, measured).
 */
function sizeClass(params: readonly unknown[]): number {
  const longest = Math.max(1, ...params.map((p) => (Array.isArray(p) ? p.length : 1)));
  let step = 0;
  for (let bound = 1; bound < longest; bound *= 8) step++;
  return step;
}

/**
 * Queries sent as statements prepared once per connection (named by their text and the size of their arrays):
 * PostgreSQL then parses them once, and plans them once when it finds a generic plan as good (plan_cache_mode
 * auto, the store's) or is told to (the catalog's pools say which: server.ts, planCacheMode), which for small
 * catalog and store statements is most of their cost. A pooler in transaction mode
 * (PgBouncer before 1.21) hands a session's statements to other server connections, where a name is unknown
 * (26000) or already taken (42P05): from then on these queries go unnamed, the failed one again at once. Only for
 * statements sent alone: inside a transaction that refusal would abort it, past what the retry can mend.
 */
export class PreparedStatements {
  private preparing = true;

  async query<R extends pg.QueryResultRow>(sender: Sender, text: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    if (!this.preparing) return sender.query<R>(text, params);
    try {
      return await sender.query<R>({ name: `${statementName(text)}_${sizeClass(params)}`, text, values: params });
    } catch (error) {
      if (!preparedStatementLost(error)) throw error;
      this.preparing = false;
      return sender.query<R>(text, params);
    }
  }
}
