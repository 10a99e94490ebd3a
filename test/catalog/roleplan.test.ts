// A role's plan as a table of cases, as cloudnative-pg tests its role actions: what the catalog holds (the role,
// its memberships, a database's ACL) and what the spec asks for → the statements, and the drift they correct.
// Pure: no server. The real-PostgreSQL suites prove the same statements do what they say.
import test from 'ava';
import type { DatabaseRoleSpec } from '../../openapi/databaserole.ts';
import { planRole, type DesiredRole } from '../../storage/catalog/roles.ts';
import type { Acl, LiveRole, Snapshot } from '../../storage/catalog/snapshot.ts';
import { liveDatabase, liveRole, liveSchema, snapshotOf } from '../support/snapshot.ts';

interface Live {
  role?: Partial<LiveRole>;
  /** Other roles that exist (groups). */
  groups?: string[];
  /** The ACL of database "db", when it exists. */
  databaseAcl?: Acl;
}

/** Database "db" has no schema here: its ACL is what these cases are about. */
function snapshot(live: Live): Snapshot {
  const roles = [...(live.role ? [liveRole('app', live.role)] : []), ...(live.groups ?? []).map((g) => liveRole(g, { login: false }))];
  const databases = live.databaseAcl ? [liveDatabase('db', { acl: live.databaseAcl, schemas: [] })] : [];
  return snapshotOf({ roles, databases });
}

function desired(spec: Partial<DatabaseRoleSpec>, password: Partial<DesiredRole> = {}): DesiredRole {
  const full = { roleName: 'app', databaseClusterRef: { name: 'main' }, ...spec };
  return {
    spec: full,
    password: null,
    passwordApplied: true,
    managedDatabases: (full.permissions ?? []).map((p) => p.database),
    ...password,
  };
}

const cases: { name: string; live: Live; want: DesiredRole; statements: string[]; drift: string[] }[] = [
  { name: 'a role as specified', live: { role: {} }, want: desired({}), statements: [], drift: [] },
  {
    name: 'a new role',
    live: {},
    want: desired({ login: false }),
    statements: ['CREATE ROLE "app" WITH NOLOGIN INHERIT NOCREATEDB CONNECTION LIMIT -1'],
    drift: ['role app: existence'],
  },
  {
    name: 'NOLOGIN made by hand',
    live: { role: { login: false } },
    want: desired({}),
    statements: ['ALTER ROLE "app" WITH LOGIN'],
    drift: ['role app: login'],
  },
  {
    name: 'login taken away by the spec',
    live: { role: {} },
    want: desired({ login: false }),
    statements: ['ALTER ROLE "app" WITH NOLOGIN'],
    drift: ['role app: login'],
  },
  {
    name: 'a connection limit',
    live: { role: {} },
    want: desired({ connectionLimit: 5 }),
    statements: ['ALTER ROLE "app" WITH CONNECTION LIMIT 5'],
    drift: ['role app: connectionLimit'],
  },
  {
    name: 'a password expiry',
    live: { role: {} },
    want: desired({ validUntil: '2030-01-01T00:00:00Z' }),
    statements: [`ALTER ROLE "app" WITH VALID UNTIL '2030-01-01T00:00:00.000Z'`],
    drift: ['role app: validUntil'],
  },
  {
    name: 'CREATEDB',
    live: { role: {} },
    want: desired({ createdb: true }),
    statements: ['ALTER ROLE "app" WITH CREATEDB'],
    drift: ['role app: createdb'],
  },
  {
    name: 'NOINHERIT',
    live: { role: {} },
    want: desired({ inherit: false }),
    statements: ['ALTER ROLE "app" WITH NOINHERIT'],
    drift: ['role app: inherit'],
  },
  {
    name: 'a membership to add',
    live: { role: {}, groups: ['readers'] },
    want: desired({ memberOf: ['readers'] }),
    statements: ['GRANT "readers" TO "app" WITH INHERIT TRUE'],
    drift: ['membership readers: existence'],
  },
  {
    name: 'a membership granted by hand is revoked, the asked one kept',
    live: { role: { memberOf: ['readers', 'admins'] }, groups: ['readers', 'admins'] },
    want: desired({ memberOf: ['readers'] }),
    statements: ['REVOKE "admins" FROM "app"'],
    drift: ['membership admins: existence'],
  },
  {
    name: 'a database privilege to grant',
    live: { role: {}, databaseAcl: { app: ['CONNECT'] } },
    want: desired({ permissions: [{ database: 'db', privileges: ['CONNECT', 'TEMPORARY'] }] }),
    statements: ['GRANT TEMPORARY ON DATABASE "db" TO "app"'],
    drift: ['database db: TEMPORARY'],
  },
  {
    name: 'a database privilege granted by hand is revoked',
    live: { role: {}, databaseAcl: { app: ['CONNECT', 'CREATE'] } },
    want: desired({ permissions: [{ database: 'db' }] }),
    statements: ['REVOKE CREATE ON DATABASE "db" FROM "app"'],
    drift: ['database db: CREATE'],
  },
  {
    name: 'ALL on a database: what is missing of it, in one statement',
    live: { role: {}, databaseAcl: { app: ['CONNECT'] } },
    want: desired({ permissions: [{ database: 'db', privileges: ['ALL'] }] }),
    statements: ['GRANT CREATE, TEMPORARY ON DATABASE "db" TO "app"'],
    drift: ['database db: CREATE', 'database db: TEMPORARY'],
  },
  {
    name: 'a password from a Secret not applied yet (its clause is attached at execution, never planned)',
    live: { role: { password: 'SCRAM-SHA-256$4096:other' } },
    want: desired({ password: { name: 'app-password' } }, { password: 'from-the-secret', passwordApplied: false }),
    statements: ['ALTER ROLE "app"'],
    drift: ['role app: password'],
  },
];

for (const c of cases) {
  test(`role plan: ${c.name}`, (t) => {
    const plan = planRole(c.want, snapshot(c.live));
    t.deepEqual(
      plan.statements.map((s) => s.sql),
      c.statements,
    );
    t.deepEqual(
      plan.drift.map((d) => `${d.kind} ${d.database ?? d.object}: ${d.privilege ?? d.attribute ?? 'existence'}`),
      c.drift,
    );
  });
}

test('a "*" grant missing on objects: drift names the first 20 of them and counts the rest; one statement grants on all', (t) => {
  const names = Array.from({ length: 23 }, (_, i) => `t${String(i).padStart(2, '0')}`);
  const schema = liveSchema('public', {
    acl: { app: ['USAGE'] },
    objects: { table: names.map((name) => ({ name, args: null, owner: 'admin' })) },
  });
  const live = snapshotOf({ roles: [liveRole('app')], databases: [liveDatabase('db', { acl: { app: ['CONNECT'] }, schemas: [schema] })] });
  const want = desired({
    permissions: [{ database: 'db', schemas: [{ name: 'public', tables: [{ name: '*', privileges: ['SELECT'] }] }] }],
  });
  const plan = planRole(want, live);
  const tableDrift = plan.drift.filter((d) => d.kind === 'table').map((d) => d.object);
  t.deepEqual(tableDrift, [...names.slice(0, 20), '* (3 more)']);
  t.true(plan.statements.some((s) => s.sql === 'GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "app"'));
});
