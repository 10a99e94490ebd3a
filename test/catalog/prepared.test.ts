// The catalog's and the store's queries go as prepared statements (connections.ts). One text is prepared apart for
// arrays of very different sizes: a generic plan PostgreSQL judged on a write's one role is not used for a list's
// 500. Through a pooler in transaction mode, which hands each transaction of a client to whichever server
// connection is free, a statement prepared on one server connection is unknown on the next: the catalog must
// notice and go on unnamed. PgBouncer 1.18 (Debian's) keeps no prepared statements across server connections, so
// it is the pooler that breaks them.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../storage/embedded-postgres.ts';
import { ServerCatalog } from '../../storage/catalog/server.ts';
import { PreparedStatements } from '../../storage/connections.ts';
import type { Queryable } from '../../storage/catalog/snapshot.ts';
import { sql, startTestServer, testServerNames, unique } from '../support/postgres.ts';

function pgbouncerPath(): string {
  const candidates = [process.env.PGBOUNCER, '/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'];
  const found = candidates.find((p) => p !== undefined && existsSync(p)) ?? spawnSync('which', ['pgbouncer']).stdout?.toString().trim();
  if (!found) throw new Error('pgbouncer is needed by this test: install the Debian package pgbouncer (.ci/run does) or set PGBOUNCER');
  return found;
}

/** PgBouncer in transaction mode, two server connections, in front of the server `dsn` names. */
async function startPgBouncer(dsn: string): Promise<{ dsn: string; stop(): Promise<void> }> {
  const target = new URL(dsn);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pgbouncer-'));
  chmodSync(dir, 0o755);
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(
    ini,
    `[databases]
* = host=${target.hostname} port=${target.port} user=${decodeURIComponent(target.username)} password=${decodeURIComponent(target.password)}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 2
max_client_conn = 50
ignore_startup_parameters = statement_timeout,lock_timeout,options
`,
  );
  chmodSync(ini, 0o644);
  // PgBouncer refuses to run as root: it drops to nobody then.
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(pgbouncerPath(), [...(asRoot ? ['-u', 'nobody'] : []), ini], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = new URL(dsn);
  url.port = String(port);
  const stop = async () => {
    child.kill('SIGINT');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: url.toString() });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return { dsn: url.toString(), stop };
    } catch (error) {
      await client.end().catch(() => undefined);
      if (attempt === 100 || child.exitCode !== null) {
        await stop();
        throw new Error(`PgBouncer did not start: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

test('catalog reads through PgBouncer in transaction mode, which moves a session between server connections, all succeed', async (t) => {
  const server = await startTestServer(testServerNames().at(-1)!);
  t.teardown(() => server.stop());
  const role = unique('pooled_role');
  await sql(server.superuserDsn, `CREATE ROLE ${role} LOGIN`);
  const bouncer = await startPgBouncer(server.superuserDsn);
  t.teardown(() => bouncer.stop());
  const catalog = new ServerCatalog(bouncer.dsn);
  t.teardown(() => catalog.close());
  // Reads at once on the catalog's two connections per database, round after round: PgBouncer gives each
  // transaction the server connection that is free, so a connection's statements land on both.
  for (let round = 0; round < 10; round++) {
    const [snapshot, facts, wide] = await Promise.all([
      catalog.snapshot({ roles: [role], databases: ['postgres'], contents: ['postgres'] }, { fresh: true }),
      catalog.serverFacts({ roles: [role], databases: ['postgres'], extensions: [] }),
      catalog.snapshot({ roles: [role, 'postgres'], databases: ['postgres'] }, { fresh: true }),
    ]);
    t.true(snapshot.roles.get(role)?.login, `round ${round}: the role as the catalog holds it`);
    const contents = snapshot.databases.get('postgres')?.contents;
    t.true(contents !== undefined && 'schemas' in contents && contents.schemas.has('public'), `round ${round}: the database's contents`);
    t.true(facts.roles.has(role), `round ${round}: the server's facts`);
    t.true(wide.roles.has(role), `round ${round}: a read of more roles`);
  }
});

test("a statement run with one role and then with 500 is prepared apart for each: the plan kept for one is not the other's", async (t) => {
  const server = await startTestServer(testServerNames().at(-1)!);
  t.teardown(() => server.stop());
  const client = new pg.Client({ connectionString: server.superuserDsn });
  await client.connect();
  t.teardown(() => client.end());
  const prepared = new PreparedStatements();
  const text = 'SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ANY($1)';
  const many = Array.from({ length: 500 }, (_, i) => `role_${i}`);
  for (const roles of [['postgres'], ['postgres'], many, many, ['pg_monitor', 'postgres']])
    t.is((await prepared.query<{ n: number }>(client, text, [roles])).rows[0]!.n, roles.includes('postgres') ? roles.length : 0);
  const { rows } = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
  t.is(rows.length, 3, `one statement for 1 value, one for 2 to 8, one for 500: ${rows.map((r) => r.name).join(', ')}`);
});

test("the DSN's database plans its reads once per connection; a database's contents are planned for their values each time", async (t) => {
  const server = await startTestServer(testServerNames().at(-1)!);
  t.teardown(() => server.stop());
  const role = unique('planned_role');
  const database = unique('planned_db');
  await sql(server.superuserDsn, `CREATE ROLE ${role} LOGIN`);
  await sql(server.superuserDsn, `CREATE DATABASE ${database}`);
  // One connection per database: the plans counted below are those of the reads made here.
  const catalog = new ServerCatalog(server.superuserDsn, { maxConnections: 1 });
  t.teardown(() => catalog.close());
  for (let round = 0; round < 3; round++) {
    await catalog.serverFacts({ roles: [role], databases: [database], extensions: [] });
    await catalog.snapshot({ roles: [role], databases: [database], contents: [database] }, { fresh: true });
  }
  // pg_prepared_statements counts, per statement of the session, the plans made for the values given (custom) and
  // the runs of the plan kept (generic), from PostgreSQL 14.
  const { pool } = catalog as unknown as { pool(database: string | null): Queryable };
  const plans = async (on: string | null) =>
    (
      await pool
        .call(catalog, on)
        .query<{ generic: number; custom: number }>(
          'SELECT sum(generic_plans)::int AS generic, sum(custom_plans)::int AS custom FROM pg_prepared_statements',
        )
    ).rows[0]!;
  const maintenance = await plans(null);
  t.true(maintenance.generic >= 9, `the facts, roles and databases read 3 times each from the plans kept: ${JSON.stringify(maintenance)}`);
  t.is(maintenance.custom, 0, 'none planned for the values given');
  const contents = await plans(database);
  t.is(contents.generic, 0, "no plan kept for a database's contents");
  t.true(contents.custom >= 6, `its objects and the rest read 3 times each, planned each time: ${JSON.stringify(contents)}`);
});

test("the DSN's database's plans, made while its catalogs are small, find roles and databases by index once they have grown", async (t) => {
  const server = await startTestServer(testServerNames().at(-1)!);
  t.teardown(() => server.stop());
  const database = unique('grown_db');
  await sql(server.superuserDsn, `CREATE DATABASE ${database}`);
  const catalog = new ServerCatalog(server.superuserDsn, { maxConnections: 1 });
  t.teardown(() => catalog.close());
  const read = async (role: string) => {
    await catalog.serverFacts({ roles: [role], databases: [database], extensions: [] });
    await catalog.snapshot({ roles: [role], databases: [database], contents: [database] }, { fresh: true });
  };
  await read('postgres'); // the plans are made now, on a server with a handful of roles
  const grown = unique('grown');
  await sql(
    server.superuserDsn,
    `DO $$ BEGIN FOR i IN 1..300 LOOP
       EXECUTE format('CREATE ROLE %I', '${grown}_' || i);
       EXECUTE format('GRANT CONNECT ON DATABASE ${database} TO %I', '${grown}_' || i);
     END LOOP; END $$`,
  );
  await read(`${grown}_1`);
  // The plans the connection keeps, as it runs them now (EXPLAIN EXECUTE plans nothing anew).
  const { pool } = catalog as unknown as { pool(database: string | null): Queryable };
  const maintenance = pool.call(catalog, null);
  const statements = (
    await maintenance.query<{ name: string; parameters: number }>(
      'SELECT name, cardinality(parameter_types)::int AS parameters FROM pg_prepared_statements WHERE generic_plans > 0',
    )
  ).rows;
  t.true(statements.length >= 3, `the facts, roles and databases kept: ${statements.map((s) => s.name).join(', ')}`);
  const scanned: string[] = [];
  for (const { name, parameters } of statements) {
    const nulls = Array.from({ length: parameters }, () => 'NULL').join(', ');
    const [{ 'QUERY PLAN': plan }] = (
      await maintenance.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) EXECUTE ${name}${parameters > 0 ? `(${nulls})` : ''}`)
    ).rows as [{ 'QUERY PLAN': unknown }];
    const walk = (node: Record<string, unknown>): void => {
      if (node['Node Type'] === 'Seq Scan' && ['pg_authid', 'pg_shdepend', 'pg_database'].includes(String(node['Relation Name'])))
        scanned.push(`${name}: ${String(node['Relation Name'])}`);
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    for (const entry of plan as { Plan: Record<string, unknown> }[]) walk(entry.Plan);
  }
  t.deepEqual(scanned, [], 'no kept plan reads a whole catalog of roles or dependencies');
});
