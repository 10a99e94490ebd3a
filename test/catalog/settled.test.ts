// A role's write answers with the catalog its plan settles (snapshotAfter), derived from the read it planned on
// and the plan, with no read after its SQL: against real servers, that catalog must be the one a fresh read shows
// once the plan ran — the role's attributes, memberships and password, the databases' privileges and the grants
// inside them.
import test from 'ava';
import type { DatabaseRoleSpec } from '../../openapi/databaserole.ts';
import { livePermissions } from '../../storage/catalog/grants.ts';
import { passwordsOf, planRole, snapshotAfter, type DesiredRole } from '../../storage/catalog/roles.ts';
import type { ServerCatalog } from '../../storage/catalog/server.ts';
import type { Snapshot } from '../../storage/catalog/snapshot.ts';
import { converge, desired, guideDatabase, guideRole, perTarget } from '../support/catalog.ts';
import { sql, unique } from '../support/postgres.ts';

const each = perTarget(test);

/** What a status shows of the role and the databases' own privileges; touchedDatabases only serves DROP OWNED. */
function roleFacts(snapshot: Snapshot, role: string, databases: readonly string[]) {
  const { touchedDatabases: _touched, ...live } = snapshot.roles.get(role) ?? { touchedDatabases: [] };
  return { live, databaseAcl: databases.map((d) => snapshot.databases.get(d)?.acl[role] ?? []) };
}

/** Plans and applies the role's spec as a write does, then compares the settled catalog with a fresh read. */
async function settledMatchesRead(catalog: ServerCatalog, role: DesiredRole) {
  const { roleName } = role.spec;
  const managed = role.managedDatabases;
  const scope = { roles: [roleName], databases: managed, contents: (role.spec.permissions ?? []).map((p) => p.database) };
  const before = await catalog.snapshot(scope, { fresh: true });
  const plan = planRole(role, before);
  await catalog.apply(plan, passwordsOf(role));
  const verifier = typeof role.password === 'string' ? await catalog.verifiers.verifierOf(roleName, role.password) : undefined;
  const settled = snapshotAfter(role, before, plan, verifier);
  // As the write records it once the password is set (it cannot be read back without a superuser).
  role.passwordApplied = true;
  const read = await catalog.snapshot(scope, { fresh: true });
  return {
    ran: plan.statements.length,
    settled: { ...roleFacts(settled, roleName, managed), grants: livePermissions(roleName, managed, settled) },
    read: { ...roleFacts(read, roleName, managed), grants: livePermissions(roleName, managed, read) },
    settledPlan: planRole(role, settled).statements.map((s) => s.description),
    readPlan: planRole(role, read).statements.map((s) => s.sql),
  };
}

each('a role created, changed in every attribute, membership and privilege, then emptied: settled as read', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  await converge(catalog, database, []);
  const [readers, writers] = [unique('readers'), unique('writers')];
  await sql(target.dsn, `CREATE ROLE "${readers}" NOLOGIN; CREATE ROLE "${writers}" NOLOGIN`);
  await sql(
    target.dsn,
    `CREATE TABLE orders (id serial); CREATE TABLE items (id int); CREATE SCHEMA reports; CREATE TABLE reports.daily (id int);
     CREATE FUNCTION total(a integer) RETURNS integer LANGUAGE sql AS 'SELECT a';`,
    { database: database.name },
  );
  const spec = guideRole(database.name);
  const steps: { spec: Partial<DatabaseRoleSpec>; password: string | null }[] = [
    { spec: { memberOf: [readers, writers], connectionLimit: 5, validUntil: '2031-01-01T00:00:00Z' }, password: 'first secret' },
    {
      spec: {
        login: false,
        inherit: false,
        createdb: true,
        memberOf: [writers],
        permissions: [
          {
            database: database.name,
            privileges: ['CONNECT', 'TEMPORARY'],
            schemas: [
              {
                name: 'public',
                privileges: ['USAGE'],
                tables: [
                  { name: 'orders', privileges: ['SELECT', 'UPDATE'] },
                  { name: '*', privileges: ['SELECT'] },
                ],
                sequences: [{ name: '*', privileges: ['USAGE'] }],
                functions: [{ name: 'total', privileges: ['EXECUTE'] }],
              },
              { name: 'reports', privileges: ['USAGE'], tables: [{ name: 'daily', privileges: ['SELECT'] }] },
            ],
          },
        ],
      },
      password: 'second secret',
    },
    { spec: { permissions: [] }, password: null },
  ];
  for (const [i, step] of steps.entries()) {
    if (i === 1) await sql(target.dsn, `GRANT TRUNCATE ON items TO "${spec.roleName}"`, { database: database.name });
    const role = desired({ ...spec, ...step.spec }, { password: step.password, managedDatabases: [database.name] });
    const result = await settledMatchesRead(catalog, role);
    t.true(result.ran > 0, `step ${i} ran SQL`);
    t.deepEqual(result.settled, result.read, `step ${i}: the settled role and grants are the ones read`);
    t.deepEqual(result.settledPlan, [], `step ${i}: nothing left to do in the settled catalog`);
    t.deepEqual(result.readPlan, [], `step ${i}: nothing left to do in the catalog read`);
  }
});
