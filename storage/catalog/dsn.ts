// DSNs are parsed by pg's own parser; the database is set on the parsed config, since a name in the URL path
// would go through URL encoding that PostgreSQL names (quotes, semicolons, unicode) do not survive.
import type pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';

export function connectionConfig(dsn: string, database?: string): pg.ClientConfig {
  const config = parseIntoClientConfig(dsn) as pg.ClientConfig;
  return database === undefined ? config : { ...config, database };
}

/** The database a DSN names, "postgres" when it names none. */
export function databaseOf(dsn: string): string {
  return connectionConfig(dsn).database ?? 'postgres';
}
