// A role's write answers with the catalog its plan settles (snapshotAfter) instead of reading every ACL item of
// its databases again: against real servers, that catalog must be the one a fresh read shows once the plan ran.
import test from 'ava';
import type { DatabaseRoleSpec } from '../../openapi/databaserole.ts';
import { livePermissions } from '../../storage/catalog/grants.ts';
import { planRole, snapshotAfter } from '../../storage/catalog/roles.ts';
import type { ServerCatalog } from '../../storage/catalog/server.ts';
import { converge, desired, guideDatabase, guideRole, perTarget } from '../support/catalog.ts';
import { sql } from '../support/postgres.ts';

const each = perTarget(test);

/** Plans and applies the role's spec, then compares the settled catalog with a fresh read. */
async function settledMatchesRead(catalog: ServerCatalog, spec: DatabaseRoleSpec, managed: string[]) {
  // As the write records it once the password is set (it cannot be read back without a superuser).
  const role = desired(spec, { managedDatabases: managed, passwordApplied: true });
  const scope = { roles: [spec.roleName], databases: managed, contents: (spec.permissions ?? []).map((p) => p.database) };
  const before = await catalog.snapshot(scope, { fresh: true });
  const plan = planRole(role, before);
  await catalog.apply(plan);
  const settled = snapshotAfter(spec.roleName, before, plan, await catalog.snapshot({ ...scope, contents: 'none' }, { fresh: true }));
  const read = await catalog.snapshot(scope, { fresh: true });
  return {
    ran: plan.statements.length,
    settled: livePermissions(spec.roleName, managed, settled),
    read: livePermissions(spec.roleName, managed, read),
    settledPlan: planRole(role, settled).statements.map((s) => s.description),
    readPlan: planRole(role, read).statements.map((s) => s.sql),
  };
}

each('the guide role, then named tables, functions and sequences instead of "*", then nothing: settled as read', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  await converge(catalog, database, []);
  await sql(
    target.dsn,
    `CREATE TABLE orders (id serial); CREATE TABLE items (id int); CREATE SCHEMA reports; CREATE TABLE reports.daily (id int);
     CREATE FUNCTION total(a integer) RETURNS integer LANGUAGE sql AS 'SELECT a';`,
    { database: database.name },
  );
  const spec = guideRole(database.name);
  const steps: DatabaseRoleSpec['permissions'][] = [
    spec.permissions,
    [
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
    [],
  ];
  for (const [i, permissions] of steps.entries()) {
    if (i === 1) await sql(target.dsn, `GRANT TRUNCATE ON items TO "${spec.roleName}"`, { database: database.name });
    const result = await settledMatchesRead(catalog, { ...spec, permissions }, [database.name]);
    t.true(result.ran > 0, `step ${i} ran SQL`);
    t.deepEqual(result.settled, result.read, `step ${i}: the settled grants are the ones read`);
    t.deepEqual(result.settledPlan, [], `step ${i}: nothing left to do in the settled catalog`);
    t.deepEqual(result.readPlan, [], `step ${i}: nothing left to do in the catalog read`);
  }
});
