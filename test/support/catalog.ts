// Helpers for catalog tests: a suite of real servers (one per version) with both kinds of connecting user,
// and the usage guide's objects with unique names.
import type { ExecutionContext, TestFn } from 'ava';
import type { DatabaseSpec } from '../../openapi/database.ts';
import type { DatabaseRoleSpec } from '../../openapi/databaserole.ts';
import { ServerCatalog, type StatementLog } from '../../storage/catalog/server.ts';
import type { Plan } from '../../storage/catalog/plan.ts';
import { planDatabase } from '../../storage/catalog/databases.ts';
import { passwordsOf, planRole, type DesiredRole } from '../../storage/catalog/roles.ts';

export { passwordsOf };
import { adminKinds, dsnFor, startTestServer, testServerNames, unique, type AdminKind, type TestServer } from './postgres.ts';

export interface Target {
  server: TestServer;
  kind: AdminKind;
  dsn: string;
  catalog(log?: StatementLog): ServerCatalog;
}

/**
 * Starts one server per version for the test file and declares `body` once per server and connecting user.
 * Catalogs opened through `target.catalog()` are closed after the test.
 */
export function perTarget(test: TestFn, settings: Record<string, string> = {}) {
  const servers = new Map<string, Promise<TestServer>>();
  test.before(() => {
    for (const name of testServerNames()) {
      const started = startTestServer(name, { max_connections: '300', ...settings });
      started.catch(() => undefined); // reported by the tests that await it
      servers.set(name, started);
    }
  });
  test.after.always(async () => {
    await Promise.all([...servers.values()].map(async (s) => (await s.catch(() => undefined))?.stop()));
  });
  return (title: string, body: (t: ExecutionContext, target: Target) => Promise<void>, kinds: readonly AdminKind[] = adminKinds) => {
    for (const name of testServerNames()) {
      for (const kind of kinds) {
        test(`${name} as ${kind}: ${title}`, async (t) => {
          const server = await servers.get(name)!;
          const opened: ServerCatalog[] = [];
          const target: Target = {
            server,
            kind,
            dsn: dsnFor(server, kind),
            catalog: (log) => {
              const catalog = new ServerCatalog(dsnFor(server, kind), log ? { log } : {});
              opened.push(catalog);
              return catalog;
            },
          };
          try {
            await body(t, target);
          } finally {
            await Promise.all(opened.map((c) => c.close()));
          }
        });
      }
    }
  };
}

/** The usage guide's Database, with a unique name. */
export function guideDatabase(name = unique('my_app_db')): DatabaseSpec {
  return { name, schema: 'public', databaseClusterRef: { name: 'main-cluster' }, databaseServiceName: 'my-app-db-svc' };
}

/** The usage guide's DatabaseRole, with a unique role name, on `database`. */
export function guideRole(database: string, roleName = unique('my_app_user')): DatabaseRoleSpec {
  return {
    roleName,
    password: { name: 'app-user-password', key: 'password' },
    databaseClusterRef: { name: 'main-cluster' },
    permissions: [
      {
        database,
        schemas: [
          {
            name: 'public',
            privileges: ['USAGE', 'CREATE'],
            tables: [{ name: '*', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] }],
          },
        ],
      },
    ],
  };
}

export function desired(spec: DatabaseRoleSpec, options: Partial<Omit<DesiredRole, 'spec'>> = {}): DesiredRole {
  return { spec, password: null, passwordApplied: false, managedDatabases: spec.permissions?.map((p) => p.database) ?? [], ...options };
}

/** Snapshot and plan of one Database and some roles, as the reconciler sees them. */
export async function planAll(
  catalog: ServerCatalog,
  database: DatabaseSpec,
  roles: DesiredRole[],
): Promise<{ database: Plan; roles: Plan[] }> {
  const snapshot = await catalog.snapshot({ roles: roles.map((r) => r.spec.roleName), databases: [database.name] });
  return { database: planDatabase(database, snapshot), roles: roles.map((r) => planRole(r, snapshot)) };
}

/** Applies the Database's plan, then the roles' plans. */
export async function converge(
  catalog: ServerCatalog,
  database: DatabaseSpec,
  roles: DesiredRole[],
): Promise<{ database: Plan; roles: Plan[] }> {
  const plans = await planAll(catalog, database, roles);
  await catalog.apply(plans.database);
  if (plans.roles.some((p) => p.statements.length > 0)) {
    // The database may have just been created: plan the roles against the new state.
    const again = await planAll(catalog, database, roles);
    for (const [i, plan] of again.roles.entries()) await catalog.apply(plan, passwordsOf(roles[i]!));
    // What the reconciler records in status.passwordSecretVersion once a password is set.
    for (const role of roles) role.passwordApplied = true;
    return { database: plans.database, roles: again.roles };
  }
  return plans;
}
