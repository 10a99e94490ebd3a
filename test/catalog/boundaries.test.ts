// Edges against real servers: identifiers of every shape, what an RDS-like admin may not do, database drift,
// and reclaim Delete leaving no trace.
import test from 'ava';
import { CatalogError, InvalidError } from '../../storage/catalog/errors.ts';
import { planDatabase, planDatabaseDeletion } from '../../storage/catalog/databases.ts';
import { planRole, planRoleDeletion } from '../../storage/catalog/roles.ts';
import { converge, desired, guideDatabase, guideRole, perTarget, planAll } from '../support/catalog.ts';
import { asUser, sql, unique } from '../support/postgres.ts';

const each = perTarget(test);

// 63 bytes: 'ü' is two bytes.
const exactly63 = (seed: string) =>
  `${seed}${'ü'.repeat((63 - Buffer.byteLength(seed)) / 2)}${(63 - Buffer.byteLength(seed)) % 2 ? 'x' : ''}`;

each(
  'identifiers with quotes, semicolons, backslashes, spaces, upper case, unicode and 63 bytes are created exactly',
  async (t, target) => {
    const catalog = target.catalog();
    const suffix = unique('');
    const names = {
      database: `My "DB"; DROP DATABASE postgres; --${suffix}`,
      schema: `Sch\\ema 'x' ${suffix}`,
      role: exactly63(`Rôle"; --${suffix}`),
      table: `Tâble "T" ${suffix}`,
    };
    t.is(Buffer.byteLength(names.role), 63);
    const database = { ...guideDatabase(names.database), schemas: [names.schema] };
    const spec = guideRole(names.database, names.role);
    spec.permissions![0]!.schemas = [{ name: names.schema, privileges: ['USAGE'], tables: [{ name: '*', privileges: ['SELECT'] }] }];
    const role = desired(spec);
    await converge(catalog, database, [role]);
    await sql(target.dsn, `CREATE TABLE "${names.schema.replaceAll('"', '""')}"."${names.table.replaceAll('"', '""')}" (id int)`, {
      database: names.database,
    });

    const [found] = await sql<{ database: boolean; role: boolean; schema: boolean; select: boolean }>(
      target.dsn,
      `
    SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS database, EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2) AS role,
           EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $3) AS schema,
           has_table_privilege($2, format('%I.%I', $3::text, $4::text), 'SELECT') AS select`,
      { database: names.database, params: [names.database, names.role, names.schema, names.table] },
    );
    t.deepEqual(found, { database: true, role: true, schema: true, select: true });
    const next = await planAll(catalog, database, [role]);
    t.deepEqual([...next.database.statements, ...next.roles[0]!.statements], []);
  },
);

each('a 64-byte name is rejected before any SQL runs', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  await converge(catalog, database, []);
  const tooLong = `${unique('r')}${'x'.repeat(64)}`.slice(0, 64);
  const snapshot = await catalog.snapshot({ roles: [tooLong], databases: [database.name] });
  const error = t.throws(() => planRole(desired(guideRole(database.name, tooLong)), snapshot), { instanceOf: InvalidError });
  t.deepEqual(
    error!.causes.map((c) => c.field),
    ['spec.roleName'],
  );
  t.throws(() => planDatabase(guideDatabase(tooLong), snapshot), { instanceOf: InvalidError, message: /spec\.name: Too long: 64 bytes/ });
  // PostgreSQL would have truncated it to 63 bytes and created another role.
  t.deepEqual(await sql(target.dsn, 'SELECT rolname FROM pg_roles WHERE rolname = $1', { params: [tooLong.slice(0, 63)] }), []);
});

each('an unknown privilege is rejected naming its field', async (t, target) => {
  const catalog = target.catalog();
  const spec = guideRole('db');
  spec.permissions![0]!.schemas![0]!.tables![0]!.privileges = ['SELECT', 'OWNERSHIP'];
  const snapshot = await catalog.snapshot({ roles: [spec.roleName], databases: [] });
  t.throws(() => planRole(desired(spec), snapshot), {
    instanceOf: InvalidError,
    message: /^spec\.permissions\[0\]\.schemas\[0\]\.tables\[0\]\.privileges\[1\]: Unsupported value: "OWNERSHIP"/,
  });
});

each('granting on tables the connecting user has no rights over fails with a clear error and its SQLSTATE', async (t, target) => {
  const catalog = target.catalog();
  const name = unique('foreign_db');
  // A database someone else made, with a table of theirs and a public schema the admin may use.
  await sql(target.server.superuserDsn, `CREATE DATABASE "${name}"`);
  await sql(target.server.superuserDsn, 'CREATE TABLE theirs (id int); GRANT ALL ON SCHEMA public TO PUBLIC', { database: name });
  const spec = guideRole(name);
  spec.permissions![0]!.schemas![0]!.privileges = ['USAGE'];
  const snapshot = await catalog.snapshot({ roles: [spec.roleName], databases: [name] });
  const plan = planRole(desired(spec), snapshot);
  if (target.kind === 'superuser') {
    await t.notThrowsAsync(catalog.apply(plan));
    return;
  }
  const error = await t.throwsAsync(catalog.apply(plan), { instanceOf: CatalogError });
  t.is(error!.reason, 'PermissionDenied');
  t.regex(error!.message, /^while granting .* \(SQLSTATE (42501|01007)\)$/);
});

each('an admin cannot take SUPERUSER away from a role a superuser made: a clear error with SQLSTATE 42501', async (t, target) => {
  const catalog = target.catalog();
  const name = unique('hijacked');
  await sql(target.server.superuserDsn, `CREATE ROLE "${name}" SUPERUSER LOGIN`);
  const spec = { ...guideRole('db', name), permissions: [] };
  const plan = planRole(desired(spec, { passwordApplied: true }), await catalog.snapshot({ roles: [name], databases: [] }));
  t.true(plan.drift.some((d) => d.attribute === 'superuser'));
  if (target.kind === 'superuser') {
    await catalog.apply(plan);
    t.deepEqual(await sql(target.dsn, 'SELECT rolsuper FROM pg_roles WHERE rolname = $1', { params: [name] }), [{ rolsuper: false }]);
    return;
  }
  const error = await t.throwsAsync(catalog.apply(plan), { instanceOf: CatalogError });
  t.is(error!.sqlstate, '42501', error!.message);
  t.regex(error!.message, new RegExp(`^while altering role "${name}": .*\\(SQLSTATE 42501\\)$`));
});

each('a dropped schema and a changed connection limit show as database drift and are restored', async (t, target) => {
  const catalog = target.catalog();
  const database = { ...guideDatabase(), schemas: ['reporting'], connectionLimit: 20 };
  await converge(catalog, database, []);
  await sql(target.dsn, 'DROP SCHEMA reporting', { database: database.name });
  await sql(target.server.superuserDsn, `ALTER DATABASE "${database.name}" CONNECTION LIMIT 3`);
  const { database: plan } = await planAll(catalog, database, []);
  t.deepEqual(plan.drift, [
    { kind: 'database', object: database.name, attribute: 'connectionLimit', expected: '20', actual: '3' },
    { kind: 'schema', database: database.name, object: 'reporting', expected: 'present', actual: 'absent' },
  ]);
  await catalog.apply(plan);
  t.deepEqual((await planAll(catalog, database, [])).database.statements, []);
});

each('reclaim Delete of a role that owns tables in two databases leaves no trace', async (t, target) => {
  const catalog = target.catalog();
  const [a, b] = [guideDatabase(), guideDatabase()];
  const spec = guideRole(a.name);
  spec.permissions!.push({ ...spec.permissions![0]!, database: b.name });
  const role = desired(spec, { password: 'owner-password' });
  await converge(catalog, a, []);
  await converge(catalog, b, []);
  const scope = { roles: [spec.roleName], databases: [a.name, b.name] };
  await catalog.apply(planRole(role, await catalog.snapshot(scope)), new Map([[spec.roleName, 'owner-password']]));
  for (const db of [a.name, b.name]) {
    await sql(asUser(target.dsn, spec.roleName, 'owner-password'), 'CREATE TABLE owned (id int); INSERT INTO owned VALUES (1)', {
      database: db,
    });
  }
  const snapshot = await catalog.snapshot(scope);
  t.deepEqual(snapshot.roles.get(spec.roleName)!.touchedDatabases.sort(), [a.name, b.name].sort());
  await catalog.apply(planRoleDeletion(spec.roleName, snapshot));

  t.deepEqual(await sql(target.dsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [spec.roleName] }), []);
  for (const db of [a.name, b.name]) {
    // The data stays, owned by the connecting user; no ACL, default ACL or ownership mentions the role.
    t.deepEqual(
      await sql(
        target.dsn,
        "SELECT count(*)::int AS n, pg_get_userbyid((SELECT relowner FROM pg_class WHERE relname = 'owned')) AS owner FROM owned",
        { database: db },
      ),
      [{ n: 1, owner: new URL(target.dsn).username }],
    );
  }
  const after = await catalog.snapshot(scope);
  t.deepEqual(planRoleDeletion(spec.roleName, after).statements, [], 'deleting again does nothing');
});

each('reclaim Delete of a database drops it even with sessions open', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  await converge(catalog, database, []);
  const url = new URL(target.dsn);
  url.pathname = `/${database.name}`;
  const { default: pg } = await import('pg');
  const session = new pg.Client({ connectionString: url.toString() });
  await session.connect();
  session.on('error', () => undefined); // terminated by the drop
  await catalog.apply(planDatabaseDeletion(database.name, await catalog.snapshot({ roles: [], databases: [database.name] })));
  t.deepEqual(await sql(target.dsn, 'SELECT 1 FROM pg_database WHERE datname = $1', { params: [database.name] }), []);
  await session.end().catch(() => undefined);
});
