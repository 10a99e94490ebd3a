// Real PostgreSQL servers for tests: one throwaway server per major version (PG_TEST_VERSIONS=13,17 picks
// them; all supported majors by default), or the server at PG_TEST_DSN. Each server also gets an "RDS-like"
// admin: a non-superuser with CREATEDB and CREATEROLE, as managed services hand out.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { connectionConfig, databaseOf } from '../../storage/catalog/dsn.ts';
import { quoteIdent } from '../../storage/catalog/identifiers.ts';
import { startEmbeddedPostgres, supportedMajors } from '../../storage/embedded-postgres.ts';

export interface TestServer {
  /** e.g. "pg17", or "external" for PG_TEST_DSN. */
  name: string;
  major: number;
  superuserDsn: string;
  /** A non-superuser with CREATEDB and CREATEROLE. */
  adminDsn: string;
  logFile: string | undefined;
  stop(): Promise<void>;
}

/** The two kinds of connecting user the catalog must work as. */
export const adminKinds = ['superuser', 'rds-admin'] as const;
export type AdminKind = (typeof adminKinds)[number];

export function dsnFor(server: TestServer, kind: AdminKind): string {
  return kind === 'superuser' ? server.superuserDsn : server.adminDsn;
}

const templateCache = resolve(import.meta.dirname, '../../.cache/pg-templates');

export function testVersions(): number[] {
  const wanted = process.env.PG_TEST_VERSIONS;
  if (!wanted) return [...supportedMajors];
  const versions = wanted.split(',').map((v) => Number(v.trim()));
  for (const v of versions) {
    if (!(supportedMajors as readonly number[]).includes(v))
      throw new Error(`PG_TEST_VERSIONS: ${v} is not one of ${supportedMajors.join(', ')}`);
  }
  return versions;
}

/** The servers a suite runs against, named before they start so tests can be declared per server. */
export function testServerNames(): string[] {
  return process.env.PG_TEST_DSN ? ['external'] : testVersions().map((v) => `pg${v}`);
}

/**
 * Stops the server and removes its folder when this process goes away, however it goes (a failed test,
 * Ctrl-C, or a kill -9 of the test worker): a detached watcher outlives us and cleans up.
 */
function cleanUpWhenGone(serverPid: number, dir: string): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -INT ${serverPid} 2>/dev/null;
    for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 ${serverPid} 2>/dev/null || break; sleep 1; done;
    kill -KILL ${serverPid} 2>/dev/null; rm -rf '${dir}'`;
  spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' }).unref();
}

/**
 * A new "RDS-like" admin on the server (LOGIN, CREATEDB, CREATEROLE, no superuser), with CREATE on the database
 * its DSN names, as a managed service's admin has on its own database (it keeps the ownership records there); its DSN.
 */
export async function createAdmin(superuserDsn: string): Promise<string> {
  const password = randomBytes(12).toString('hex');
  const name = `rds_admin_${randomBytes(3).toString('hex')}`;
  const client = new pg.Client({ connectionString: superuserDsn });
  await client.connect();
  try {
    await client.query(`CREATE ROLE ${name} LOGIN CREATEDB CREATEROLE PASSWORD '${password}'`);
    await client.query(`GRANT CREATE ON DATABASE ${quoteIdent(databaseOf(superuserDsn))} TO ${name}`);
  } finally {
    await client.end();
  }
  return asUser(superuserDsn, name, password);
}

async function serverVersion(dsn: string): Promise<number> {
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    return Math.floor(Number(rows[0]!.v) / 10000);
  } finally {
    await client.end();
  }
}

export async function startTestServer(name: string, settings: Record<string, string> = {}): Promise<TestServer> {
  if (name === 'external') {
    const dsn = process.env.PG_TEST_DSN!;
    return {
      name,
      major: await serverVersion(dsn),
      superuserDsn: dsn,
      adminDsn: await createAdmin(dsn),
      logFile: undefined,
      stop: async () => {},
    };
  }
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const major = Number(name.slice(2));
  const server = await startEmbeddedPostgres({ major, dir, settings, templateCache });
  cleanUpWhenGone(server.process.pid!, dir);
  return {
    name,
    major,
    superuserDsn: server.dsn,
    adminDsn: await createAdmin(server.dsn),
    logFile: server.logFile,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The same server's DSN, logging in as another user. */
export function asUser(dsn: string, user: string, password: string): string {
  const url = new URL(dsn);
  url.username = user;
  url.password = password;
  return url.toString();
}

/** A short random suffix, so tests sharing a server never collide on role or database names. */
export function unique(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** Runs one query as the given DSN, in the given database, and closes the connection. */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  dsn: string,
  text: string,
  options: { database?: string; params?: unknown[] } = {},
): Promise<T[]> {
  const client = new pg.Client(connectionConfig(dsn, options.database));
  await client.connect();
  try {
    return (await client.query<T>(text, options.params)).rows;
  } finally {
    await client.end();
  }
}
