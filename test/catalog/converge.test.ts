// The usage guide's Database and DatabaseRole against real servers, as a superuser and as an RDS-like admin:
// they converge, drift made by hand shows, and later tables are covered.
import test from 'ava';
import { planRole } from '../../storage/catalog/roles.ts';
import { converge, desired, guideDatabase, guideRole, perTarget, planAll, type Target } from '../support/catalog.ts';
import { asUser, sql, unique } from '../support/postgres.ts';

const each = perTarget(test);

/** The guide's objects converged, with a table of the database owner's that the role has its grants on. */
async function guideWithTable(target: Target, table: string) {
  const catalog = target.catalog();
  const database = guideDatabase();
  const role = desired(guideRole(database.name));
  await converge(catalog, database, [role]);
  await sql(target.dsn, `CREATE TABLE ${table} (id int)`, { database: database.name });
  await converge(catalog, database, [role]);
  return { catalog, database, role };
}

each('the guide converges from nothing in one plan each, and the next plan is empty', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const role = desired(guideRole(database.name), { password: 'strong-password-here' });
  const first = await converge(catalog, database, [role]);
  t.true(first.database.statements.length > 0);
  t.deepEqual(first.roles[0]!.pending, []);
  const next = await planAll(catalog, database, [role]);
  t.deepEqual(next.database.statements, []);
  t.deepEqual(next.roles[0]!.statements, [], 'the role plan after converging is empty');
  t.deepEqual(next.roles[0]!.drift, []);

  const [grants] = await sql<{ usage: boolean; create: boolean; select: boolean; del: boolean; truncate: boolean; connect: boolean }>(
    target.server.superuserDsn,
    `
    SELECT has_schema_privilege($1, 'public', 'USAGE') AS usage, has_schema_privilege($1, 'public', 'CREATE') AS create,
           has_database_privilege($1, current_database(), 'CONNECT') AS connect`,
    { database: database.name, params: [role.spec.roleName] },
  );
  t.like(grants, { usage: true, create: true, connect: true });
  // The role can use what it was given: create a table, and read the database owner's later tables.
  await sql(target.dsn, 'CREATE TABLE orders (id int)', { database: database.name });
  const login = asUser(target.dsn, role.spec.roleName, 'strong-password-here');
  await sql(login, 'CREATE TABLE mine (id int)', { database: database.name });
  t.deepEqual(await sql(login, 'SELECT count(*)::int AS n FROM orders', { database: database.name }), [{ n: 0 }]);
});

each('a REVOKE by hand shows as drift naming database, schema, object and privilege, and is corrected', async (t, target) => {
  const { catalog, database, role } = await guideWithTable(target, 'invoices');
  await sql(target.dsn, `REVOKE DELETE ON invoices FROM "${role.spec.roleName}"`, { database: database.name });

  const {
    roles: [plan],
  } = await planAll(catalog, database, [role]);
  t.deepEqual(plan!.drift, [
    {
      kind: 'table',
      database: database.name,
      schema: 'public',
      object: 'invoices',
      privilege: 'DELETE',
      expected: 'granted',
      actual: 'revoked',
    },
  ]);
  t.deepEqual(
    plan!.statements.map((s) => s.sql),
    [`GRANT DELETE ON ALL TABLES IN SCHEMA "public" TO "${role.spec.roleName}"`],
  );
  await catalog.apply(plan!);
  t.deepEqual((await planAll(catalog, database, [role])).roles[0]!.drift, []);
});

each('a GRANT by hand on a managed database shows as drift and is revoked', async (t, target) => {
  const { catalog, database, role } = await guideWithTable(target, 'payroll');
  await sql(target.dsn, `GRANT TRUNCATE ON payroll TO "${role.spec.roleName}"`, { database: database.name });
  await sql(target.dsn, `GRANT TEMPORARY ON DATABASE "${database.name}" TO "${role.spec.roleName}"`);

  const {
    roles: [plan],
  } = await planAll(catalog, database, [role]);
  t.deepEqual(plan!.drift, [
    { kind: 'database', database: database.name, object: database.name, privilege: 'TEMPORARY', expected: 'revoked', actual: 'granted' },
    {
      kind: 'table',
      database: database.name,
      schema: 'public',
      object: 'payroll',
      privilege: 'TRUNCATE',
      expected: 'revoked',
      actual: 'granted',
    },
  ]);
  await catalog.apply(plan!);
  const [after] = await sql<{ truncate: boolean }>(target.dsn, `SELECT has_table_privilege($1, 'payroll', 'TRUNCATE') AS truncate`, {
    database: database.name,
    params: [role.spec.roleName],
  });
  t.false(after!.truncate);
});

each('a GRANT by hand on another managed database, not in the spec, is drift too', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const other = guideDatabase();
  const role = desired(guideRole(database.name), { managedDatabases: [database.name, other.name] });
  await converge(catalog, other, []);
  await converge(catalog, database, [role]);
  await sql(target.server.superuserDsn, `GRANT CREATE ON SCHEMA public TO "${role.spec.roleName}"`, { database: other.name });
  const snapshot = await catalog.snapshot({ roles: [role.spec.roleName], databases: [database.name, other.name] });
  t.deepEqual(planRole(role, snapshot).drift, [
    { kind: 'schema', database: other.name, object: 'public', privilege: 'CREATE', expected: 'revoked', actual: 'granted' },
  ]);
});

each('a table created after the grant is covered by "*"', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const role = desired(guideRole(database.name));
  await converge(catalog, database, [role]);
  await sql(target.dsn, 'CREATE TABLE later (id int)', { database: database.name });
  const [privileges] = await sql<{ select: boolean; delete: boolean; truncate: boolean }>(
    target.dsn,
    `
    SELECT has_table_privilege($1, 'later', 'SELECT') AS select, has_table_privilege($1, 'later', 'DELETE') AS delete,
           has_table_privilege($1, 'later', 'TRUNCATE') AS truncate`,
    { database: database.name, params: [role.spec.roleName] },
  );
  t.deepEqual(privileges, { select: true, delete: true, truncate: false });
  const {
    roles: [plan],
  } = await planAll(catalog, database, [role]);
  t.deepEqual(plan!.statements, []);
});

each('ALL on every kind converges with no perpetual difference', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  await converge(catalog, database, []);
  await sql(target.dsn, 'CREATE TABLE t (id serial); CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$', {
    database: database.name,
  });
  const spec = guideRole(database.name);
  spec.permissions = [
    {
      database: database.name,
      privileges: ['ALL'],
      schemas: [
        {
          name: 'public',
          privileges: ['ALL'],
          tables: [{ name: '*', privileges: ['ALL'] }],
          sequences: [{ name: '*', privileges: ['ALL'] }],
          functions: [{ name: '*', privileges: ['ALL'] }],
        },
      ],
    },
  ];
  const role = desired(spec);
  await converge(catalog, database, [role]);
  const {
    roles: [plan],
  } = await planAll(catalog, database, [role]);
  t.deepEqual(plan!.drift, []);
  const [privileges] = await sql<{ maintain: boolean | null; execute: boolean; usage: boolean }>(
    target.dsn,
    `
    SELECT CASE WHEN current_setting('server_version_num')::int >= 170000 THEN has_table_privilege($1, 't', 'MAINTAIN') END AS maintain,
           has_function_privilege($1, 'f(int)', 'EXECUTE') AS execute, has_sequence_privilege($1, 't_id_seq', 'USAGE') AS usage`,
    { database: database.name, params: [spec.roleName] },
  );
  t.deepEqual(privileges, { maintain: target.server.major >= 17 ? true : null, execute: true, usage: true });
});

each('named tables get exactly their privileges; a grant by hand on another table is revoked', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  await converge(catalog, database, []);
  await sql(target.dsn, 'CREATE TABLE orders (id int); CREATE TABLE secrets (id int)', { database: database.name });
  const spec = guideRole(database.name);
  spec.permissions = [{ database: database.name, schemas: [{ name: 'public', tables: [{ name: 'orders', privileges: ['SELECT'] }] }] }];
  const role = desired(spec);
  await converge(catalog, database, [role]);
  t.deepEqual((await planAll(catalog, database, [role])).roles[0]!.statements, []);
  await sql(target.dsn, `GRANT SELECT ON secrets TO "${spec.roleName}"`, { database: database.name });
  const {
    roles: [plan],
  } = await planAll(catalog, database, [role]);
  t.deepEqual(
    plan!.statements.map((s) => s.sql),
    [`REVOKE SELECT ON TABLE "public"."secrets" FROM "${spec.roleName}"`],
  );
});

each('a named table that does not exist yet is pending, not an error', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  await converge(catalog, database, []);
  const spec = guideRole(database.name);
  spec.permissions = [
    { database: database.name, schemas: [{ name: 'public', tables: [{ name: 'later', privileges: ['SELECT'] }] }, { name: 'missing' }] },
  ];
  const {
    roles: [plan],
  } = await planAll(catalog, database, [desired(spec)]);
  t.deepEqual(plan!.pending, [
    `schema "missing" does not exist in database "${database.name}"`,
    `table "public"."later" does not exist in database "${database.name}"`,
  ]);
});

each('memberships follow memberOf', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const readers = desired({ ...guideRole(database.name), roleName: unique('readers'), login: false });
  const user = desired({ ...guideRole(database.name), memberOf: [readers.spec.roleName] });
  await converge(catalog, database, [readers, user]);
  t.deepEqual(
    (await planAll(catalog, database, [readers, user])).roles.flatMap((p) => p.statements),
    [],
  );
  const [member] = await sql<{ member: boolean }>(target.dsn, "SELECT pg_has_role($1, $2, 'MEMBER') AS member", {
    params: [user.spec.roleName, readers.spec.roleName],
  });
  t.true(member!.member);
  const leave = { ...user, spec: { ...user.spec, memberOf: [] } };
  const {
    roles: [plan],
  } = await planAll(catalog, database, [leave]);
  t.deepEqual(
    plan!.statements.map((s) => s.sql),
    [`REVOKE "${readers.spec.roleName}" FROM "${user.spec.roleName}"`],
  );
});

each('role attributes changed by hand are drift and are corrected', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const role = desired({ ...guideRole(database.name), connectionLimit: 5, validUntil: '2031-01-01T00:00:00Z' });
  await converge(catalog, database, [role]);
  await sql(target.dsn, `ALTER ROLE "${role.spec.roleName}" NOLOGIN CONNECTION LIMIT 9 VALID UNTIL 'infinity'`);
  const {
    roles: [plan],
  } = await planAll(catalog, database, [role]);
  t.deepEqual(
    plan!.drift.map((d) => d.attribute),
    ['login', 'connectionLimit', 'validUntil'],
  );
  t.is(plan!.statements[0]!.sql, `ALTER ROLE "${role.spec.roleName}" WITH LOGIN CONNECTION LIMIT 5 VALID UNTIL '2031-01-01T00:00:00.000Z'`);
  await catalog.apply(plan!);
  t.deepEqual((await planAll(catalog, database, [role])).roles[0]!.drift, []);
});

each("inherit decides whether a member uses its groups' privileges, on every version", async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const group = desired({ ...guideRole(database.name), roleName: unique('group'), login: false });
  const user = desired({ ...guideRole(database.name), memberOf: [group.spec.roleName], inherit: false });
  await converge(catalog, database, [group, user]);
  const privilegesOfGroup = async () =>
    (
      await sql<{ usage: boolean; member: boolean }>(
        target.dsn,
        "SELECT pg_has_role($1, $2, 'USAGE') AS usage, pg_has_role($1, $2, 'MEMBER') AS member",
        { params: [user.spec.roleName, group.spec.roleName] },
      )
    )[0];
  t.deepEqual(await privilegesOfGroup(), { usage: false, member: true });
  t.deepEqual(
    (await planAll(catalog, database, [group, user])).roles.flatMap((p) => p.statements),
    [],
  );

  const inheriting = { ...user, spec: { ...user.spec, inherit: true } };
  const {
    roles: [plan],
  } = await planAll(catalog, database, [inheriting]);
  const membershipDrift = plan!.drift.filter((d) => d.kind === 'membership');
  // From PostgreSQL 16 the membership itself carries INHERIT; before, the role attribute alone decides.
  t.deepEqual(
    membershipDrift,
    target.server.major >= 16
      ? [{ kind: 'membership', object: group.spec.roleName, attribute: 'inherit', expected: 'true', actual: 'false' }]
      : [],
  );
  await catalog.apply(plan!);
  t.deepEqual(await privilegesOfGroup(), { usage: true, member: true });
  t.deepEqual((await planAll(catalog, database, [inheriting])).roles[0]!.statements, []);
});

each('an admin may grant membership in a group it did not create only before PostgreSQL 16', async (t, target) => {
  const catalog = target.catalog();
  const group = unique('dba_group');
  await sql(target.server.superuserDsn, `CREATE ROLE "${group}" NOLOGIN`);
  const user = desired({ ...guideRole('db'), permissions: [], memberOf: [group] }, { passwordApplied: true });
  const plan = planRole(user, await catalog.snapshot({ roles: [user.spec.roleName], databases: [] }));
  const applied = catalog.apply(plan);
  if (target.kind === 'superuser' || target.server.major < 16) {
    await t.notThrowsAsync(applied);
    return;
  }
  // The plan's statements run in one round trip; the refusal names its statement all the same, and the role
  // created before it in the same transaction is not left behind.
  const error = await t.throwsAsync(applied);
  t.regex(error!.message, new RegExp(`^while adding "${user.spec.roleName}" to role "${group}": .*\\(SQLSTATE 42501\\)$`));
  t.false((await catalog.snapshot({ roles: [user.spec.roleName], databases: [] }, { fresh: true })).roles.has(user.spec.roleName));
});

each('applyAll converges many roles at once; one failing plan does not block the others', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  await converge(catalog, database, []);
  await sql(target.dsn, 'CREATE TABLE shared (id int)', { database: database.name });
  const roles = [1, 2, 3].map(() => desired(guideRole(database.name), { password: 'many-roles' }));
  roles[1]!.spec.memberOf = [unique('no_such_group')];
  const names = roles.map((r) => r.spec.roleName);
  const snapshot = await catalog.snapshot({ roles: names, databases: [database.name] });
  const results = await catalog.applyAll(
    roles.map((r) => planRole(r, snapshot)),
    new Map(names.map((n) => [n, 'many-roles'])),
  );
  t.is(results[0], undefined);
  t.is(results[2], undefined);
  t.is(results[1]?.reason, 'ObjectNotFound');
  t.regex(results[1]!.message, /^while adding ".*" to role "no_such_group_.*": .*\(SQLSTATE 42704\)$/);

  const after = await catalog.snapshot({ roles: names, databases: [database.name] });
  const plans = roles.map((r) => planRole({ ...r, passwordApplied: true }, after));
  t.deepEqual([plans[0]!.statements, plans[2]!.statements], [[], []]);
  t.false(after.roles.has(names[1]!), 'the failed plan left nothing behind');
  const [privileges] = await sql<{ a: boolean; c: boolean }>(
    target.dsn,
    "SELECT has_table_privilege($1, 'shared', 'DELETE') AS a, has_table_privilege($2, 'shared', 'DELETE') AS c",
    { database: database.name, params: [names[0], names[2]] },
  );
  t.deepEqual(privileges, { a: true, c: true });
});
