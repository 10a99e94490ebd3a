// Snapshots are live: a reader is answered by a read that began at its call or later, never by one that began
// before it (before another write's DROP committed, say); readers who come while a read runs share the next
// (flights.test.ts).
import test from 'ava';
import pg from 'pg';
import { perTarget } from '../support/catalog.ts';
import { sql, unique } from '../support/postgres.ts';

const each = perTarget(test);

each('a reader who comes while a read runs sees what was dropped before it came', async (t, target) => {
  const catalog = target.catalog();
  const roleName = unique('shared');
  await sql(target.server.superuserDsn, `CREATE ROLE ${roleName}`);
  const scope = { roles: [roleName], databases: [] };
  const before = catalog.snapshot(scope);
  await sql(target.server.superuserDsn, `DROP ROLE ${roleName}`);
  const after = catalog.snapshot(scope);
  t.not(after, before);
  t.false((await after).roles.has(roleName), 'the read after the DROP does not see the role');
  await before;
});

each('a fresh snapshot is read at once, beside a running read, and sees a change made just before', async (t, target) => {
  const catalog = target.catalog();
  const roleName = unique('fresh');
  await sql(target.server.superuserDsn, `CREATE ROLE ${roleName}`);
  const scope = { roles: [roleName], databases: [] };
  const before = catalog.snapshot(scope);
  await sql(target.server.superuserDsn, `DROP ROLE ${roleName}`);
  const fresh = catalog.snapshot(scope, { fresh: true });
  t.not(fresh, before);
  t.false((await fresh).roles.has(roleName));
  await before;
});

each("a read for roles measures no database's size nor counts its connections; a read with usage does both", async (t, target) => {
  const catalog = target.catalog();
  const database = unique('usage_db');
  await sql(target.server.superuserDsn, `CREATE DATABASE ${database}`);
  // A connection held open to the database, for the count to see.
  const held = new pg.Client({ connectionString: target.server.superuserDsn, database });
  await held.connect();
  try {
    const scope = { roles: [], databases: [database] };
    const forRoles = (await catalog.snapshot(scope, { fresh: true })).databases.get(database)!;
    t.like(forRoles, { name: database, sizeBytes: null, connections: null });
    const measured = (await catalog.snapshot({ ...scope, usage: true }, { fresh: true })).databases.get(database)!;
    t.true(measured.sizeBytes! > 1_000_000, `a new database is a few MB on disk, not ${measured.sizeBytes}`);
    t.true(measured.connections! >= 1, `the held connection is counted, not ${measured.connections}`);
  } finally {
    await held.end();
  }
});

each(
  "a read of a role that exists and one that does not: the first's stored password where it can be read, no entry for the second",
  async (t, target) => {
    const catalog = target.catalog();
    const [present, missing] = [unique('present'), unique('missing')];
    await sql(target.server.superuserDsn, `CREATE ROLE ${present} LOGIN PASSWORD 'a password'`);
    const snapshot = await catalog.snapshot({ roles: [present, missing], databases: [] }, { fresh: true });
    t.false(snapshot.roles.has(missing));
    const { password } = snapshot.roles.get(present)!;
    if (target.kind === 'superuser') t.regex(String(password), /^SCRAM-SHA-256\$/, 'the verifier as pg_authid holds it');
    else t.is(password, undefined, 'an admin that cannot read pg_authid does not know it');
  },
);

/** What aclexplode() says each of `roles` holds in an ACL (`from` and `acl` are SQL), the owner left out. */
async function explodedAcl(dsn: string, database: string, from: string, acl: string, owner: string, roles: string[]) {
  const rows = await sql<{ role: string; privileges: string[] }>(
    dsn,
    `SELECT r.rolname AS role, array_agg(DISTINCT a.privilege_type ORDER BY a.privilege_type) AS privileges
     FROM ${from} CROSS JOIN LATERAL aclexplode(${acl}) a JOIN pg_roles r ON r.oid = a.grantee
     WHERE r.rolname = ANY($1) AND a.grantee <> ${owner} GROUP BY 1`,
    { database, params: [roles] },
  );
  return Object.fromEntries(rows.map((r) => [r.role, r.privileges]));
}

each(
  'ACLs are read for roles of any name, from two grantors and with grant options, as aclexplode() reads them; PUBLIC apart',
  async (t, target) => {
    const suffix = unique('');
    const roles = [`q"uo""te`, 'eq=ual/slash', 'sp ace,comma', '{br,ace}', 'back\\slash', 'Ümlaut', 'UPPER', 'plain'].map(
      (n) => `${n}${suffix}`,
    );
    const [first, second] = roles as [string, string];
    const all = roles.map((r) => `"${r.replaceAll('"', '""')}"`).join(', ');
    const database = unique('acl_db');
    const dsn = target.server.superuserDsn;
    await sql(dsn, `CREATE DATABASE ${database}`);
    await sql(dsn, roles.map((r) => `CREATE ROLE "${r.replaceAll('"', '""')}";`).join(' '));
    await sql(dsn, `CREATE ROLE grantor_${suffix}; GRANT CONNECT, TEMPORARY ON DATABASE ${database} TO ${all}`);
    await sql(
      dsn,
      `CREATE SCHEMA s; CREATE TABLE s.t1 (id int); CREATE TABLE s.t2 (id int);
       GRANT USAGE ON SCHEMA s TO ${all}; GRANT USAGE ON SCHEMA s TO PUBLIC; GRANT SELECT ON ALL TABLES IN SCHEMA s TO ${all};
       GRANT INSERT ON s.t1 TO ${all.split(', ').slice(0, 3).join(', ')} WITH GRANT OPTION;
       GRANT UPDATE ON s.t2 TO grantor_${suffix} WITH GRANT OPTION;
       ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT, DELETE ON TABLES TO ${all}`,
      { database },
    );
    // The same grantee in a second item, granted by another role.
    await sql(dsn, `SET ROLE grantor_${suffix}; GRANT UPDATE ON s.t2 TO "${first.replaceAll('"', '""')}"`, { database });

    const catalog = target.catalog();
    for (const read of [roles, [first], [second]]) {
      const snapshot = await catalog.snapshot({ roles: read, databases: [database] }, { fresh: true });
      const live = snapshot.databases.get(database)!;
      t.deepEqual(live.acl, await explodedAcl(dsn, database, 'pg_database d', 'd.datacl', 'd.datdba', read), 'the database');
      if ('error' in live.contents) return t.fail(live.contents.error);
      const schema = live.contents.schemas.get('s')!;
      t.deepEqual(schema.acl, await explodedAcl(dsn, database, 'pg_namespace n', 'n.nspacl', 'n.nspowner', read), 'the schema');
      t.deepEqual(schema.publicPrivileges, ['USAGE']);
      for (const role of read) {
        const tables = schema.grants.get(role)!.table;
        const inserted = roles.indexOf(role) < 3;
        t.deepEqual(
          Object.fromEntries([...tables].map(([privilege, keys]) => [privilege, keys === 'all' ? keys : [...keys].sort()])),
          { SELECT: 'all', ...(inserted ? { INSERT: ['t1'] } : {}), ...(role === first ? { UPDATE: ['t2'] } : {}) },
          role,
        );
        t.deepEqual(schema.defaults.get(decodeURIComponent(new URL(dsn).username))?.get(role)?.table, ['DELETE', 'SELECT']);
      }
      t.false(schema.grants.has(`grantor_${suffix}`), 'a role the read does not cover');
    }
  },
);
