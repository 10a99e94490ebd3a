// Every kind of drift the reconciler issue names, made by hand in psql: under driftPolicy Report it shows in
// the object's status and PostgreSQL is left as it is; switched to Correct, the catalog is put back.
import test from 'ava';
import { eventually, passOver, patchClusterSpec, startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { asUser, sql } from '../support/postgres.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
  // A second schema to drop, and a table for the table cases.
  await local.kubectl(['patch', 'pgdb', 'my-app-db', '--type', 'merge', '-p', '{"spec":{"schemas":["reporting"]}}']);
  await sql(local.postgresDsn, 'CREATE TABLE orders (id int)', { database });
  if (
    !(await eventually(() =>
      holds(`SELECT has_table_privilege('my_app_user', 'orders', 'SELECT') AND has_schema_privilege('postgres', 'reporting', 'USAGE')`),
    ))
  ) {
    throw new Error('the guide did not converge');
  }
});
test.after.always(async () => local?.stop());

const database = 'my_app_db_production';

async function holds(query: string, inDatabase = database): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }>(local.postgresDsn, `SELECT (${query}) AS ok`, { database: inDatabase });
  return row?.ok === true;
}

async function statusOf(resource: string, name: string): Promise<{ drift?: unknown[]; conditions?: { type: string; status: string }[] }> {
  return JSON.parse((await local.kubectl(['get', resource, name, '-o', 'json'])).stdout).status ?? {};
}

const inSync = async (resource: string, name: string) => {
  const status = await statusOf(resource, name);
  return (status.drift ?? []).length === 0 && !(status.conditions ?? []).some((c) => c.status === 'False');
};

const setPolicy = (policy: 'Report' | 'Correct') => patchClusterSpec(local, 'main-cluster', { driftPolicy: policy });

interface DriftCase {
  name: string;
  /** The change by hand, as the superuser: [SQL, database]. */
  byHand: [string, string][];
  /** The object whose status shows it. */
  object: [string, string];
  /** Holds when the catalog is as the spec says. */
  specified: () => Promise<boolean>;
}

const cases: DriftCase[] = [
  {
    name: 'REVOKE of a granted privilege',
    byHand: [['REVOKE DELETE ON orders FROM my_app_user', database]],
    object: ['pgrole', 'app-user'],
    specified: () => holds(`has_table_privilege('my_app_user', 'orders', 'DELETE')`),
  },
  {
    name: 'an extra GRANT',
    byHand: [['GRANT TRUNCATE ON orders TO my_app_user', database]],
    object: ['pgrole', 'app-user'],
    specified: () => holds(`NOT has_table_privilege('my_app_user', 'orders', 'TRUNCATE')`),
  },
  {
    name: 'ALTER ROLE NOLOGIN',
    byHand: [['ALTER ROLE my_app_user NOLOGIN', 'postgres']],
    object: ['pgrole', 'app-user'],
    specified: () => holds(`(SELECT rolcanlogin FROM pg_roles WHERE rolname = 'my_app_user')`),
  },
  {
    name: 'ALTER ROLE CONNECTION LIMIT',
    byHand: [['ALTER ROLE my_app_user CONNECTION LIMIT 7', 'postgres']],
    object: ['pgrole', 'app-user'],
    specified: () => holds(`(SELECT rolconnlimit = -1 FROM pg_roles WHERE rolname = 'my_app_user')`),
  },
  {
    name: 'DROP ROLE',
    byHand: [
      ['DROP OWNED BY my_app_user', database],
      ['DROP ROLE my_app_user', 'postgres'],
    ],
    object: ['pgrole', 'app-user'],
    specified: async () =>
      (await holds(`has_table_privilege('my_app_user', 'orders', 'SELECT')`).catch(() => false)) &&
      (await sql(asUser(local.postgresDsn, 'my_app_user', 'strong-password-here'), 'SELECT 1', { database }).then(
        () => true,
        () => false,
      )),
  },
  {
    name: 'a dropped schema',
    byHand: [['DROP SCHEMA reporting CASCADE', database]],
    object: ['pgdb', 'my-app-db'],
    specified: () => holds(`EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'reporting')`),
  },
  {
    name: 'a new table missing its grants (made by a role the default privileges do not cover)',
    byHand: [
      ['CREATE ROLE table_maker', 'postgres'],
      ['GRANT CREATE ON SCHEMA public TO table_maker; SET ROLE table_maker; CREATE TABLE made_elsewhere (id int)', database],
    ],
    object: ['pgrole', 'app-user'],
    specified: () => holds(`has_table_privilege('my_app_user', 'made_elsewhere', 'SELECT')`),
  },
  {
    name: 'DROP DATABASE',
    byHand: [[`DROP DATABASE ${database} WITH (FORCE)`, 'postgres']],
    object: ['pgdb', 'my-app-db'],
    specified: async () =>
      (await holds(`EXISTS (SELECT 1 FROM pg_database WHERE datname = '${database}')`, 'postgres')) &&
      (await holds(`has_schema_privilege('my_app_user', 'public', 'USAGE')`).catch(() => false)),
  },
];

for (const c of cases) {
  test.serial(`${c.name}: reported under Report and left alone, corrected under Correct`, async (t) => {
    await setPolicy('Report');
    t.teardown(() => setPolicy('Correct'));
    for (const [statement, inDatabase] of c.byHand) await sql(local.postgresDsn, statement, { database: inDatabase });
    t.true(await eventually(async () => !(await inSync(...c.object))), 'the status shows the drift');
    t.true(await passOver(local, 'main-cluster'), 'a whole pass of the reconciler ran since');
    t.false(await c.specified(), 'Report leaves PostgreSQL as it was');
    await setPolicy('Correct');
    t.true(await eventually(() => c.specified(), 20_000), 'Correct puts it back');
    t.true(await eventually(() => inSync(...c.object)), 'and the status says so');
  });
}

test.serial(
  'kubectl get -o wide shows the live LOGIN, VALID-UNTIL and MEMBER-OF: NOLOGIN by hand shows false, true again once corrected',
  async (t) => {
    const wide = async () => {
      const { stdout } = await local.kubectl([
        'get',
        'pgrole',
        'app-user',
        '-o',
        'custom-columns=LOGIN:.status.login,UNTIL:.status.validUntil,MEMBER:.status.memberOf',
        '--no-headers',
      ]);
      return stdout.trim().split(/\s+/);
    };
    await setPolicy('Report');
    t.teardown(() => setPolicy('Correct'));
    await sql(local.postgresDsn, "ALTER ROLE my_app_user NOLOGIN VALID UNTIL '2031-02-03T04:05:06Z'");
    t.true(await eventually(async () => (await wide())[0] === 'false'), `LOGIN false: ${(await wide()).join(' ')}`);
    t.is((await wide())[1], '2031-02-03T04:05:06Z');
    const table = await local.kubectl(['get', 'pgrole', 'app-user', '-o', 'wide']);
    t.regex(table.stdout, /LOGIN\s+VALID-UNTIL\s+MEMBER-OF/);
    t.regex(table.stdout.split('\n')[1]!, /\sfalse\s+2031-02-03T04:05:06Z\s*$/);
    await sql(local.postgresDsn, "ALTER ROLE my_app_user VALID UNTIL 'infinity'");
    await setPolicy('Correct');
    t.true(await eventually(async () => (await wide())[0] === 'true', 20_000), 'corrected, and the column says so');
  },
);

test.serial(
  'status.permissions shows the live grants: a REVOKE by hand names the table with what it still holds, until corrected',
  async (t) => {
    const tables = async () => {
      const { stdout } = await local.kubectl(['get', 'pgrole', 'app-user', '-o', 'jsonpath={.status.permissions}']);
      const permissions = JSON.parse(stdout || '[]') as {
        database: string;
        privileges: string[];
        schemas?: { name: string; tables?: { name: string; privileges: string[] }[] }[];
      }[];
      const inDatabase = permissions.find((p) => p.database === database);
      return { databasePrivileges: inDatabase?.privileges, tables: inDatabase?.schemas?.find((s) => s.name === 'public')?.tables ?? [] };
    };
    const probe = (list: { name: string; privileges: string[] }[]) => list.find((e) => e.name === 'grants_probe');
    const dml = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];
    await sql(local.postgresDsn, 'CREATE TABLE IF NOT EXISTS grants_probe (id int)', { database });
    t.true(
      await eventually(async () => {
        const now = await tables();
        return (
          JSON.stringify(now.databasePrivileges) === '["CONNECT"]' &&
          JSON.stringify(now.tables[0]) === JSON.stringify({ name: '*', privileges: dml }) &&
          !probe(now.tables)
        );
      }),
      JSON.stringify(await tables()),
    );
    await setPolicy('Report');
    t.teardown(() => setPolicy('Correct'));
    await sql(local.postgresDsn, 'REVOKE DELETE ON grants_probe FROM my_app_user', { database });
    t.true(
      await eventually(
        async () =>
          JSON.stringify(probe((await tables()).tables)) ===
          JSON.stringify({ name: 'grants_probe', privileges: ['SELECT', 'INSERT', 'UPDATE'] }),
      ),
      JSON.stringify(await tables()),
    );
    await setPolicy('Correct');
    t.true(await eventually(async () => !probe((await tables()).tables), 20_000), 'corrected: the table holds what "*" says again');
  },
);

test.serial("the Database's Service deleted by hand: Ready=False ServiceMissing under Report, made again under Correct", async (t) => {
  await setPolicy('Report');
  t.teardown(() => setPolicy('Correct'));
  t.is((await local.kubectl(['delete', 'service', 'my-app-db-svc'])).code, 0);
  const serviceExists = async () => (await local.kubectl(['get', 'service', 'my-app-db-svc'])).code === 0;
  t.true(
    await eventually(
      async () =>
        (await statusOf('pgdb', 'my-app-db')).conditions?.some(
          (c) => c.type === 'Ready' && c.status === 'False' && (c as { reason?: string }).reason === 'ServiceMissing',
        ) === true,
    ),
  );
  t.true(await passOver(local, 'main-cluster'), 'a whole pass of the reconciler ran since');
  t.false(await serviceExists(), 'Report leaves it missing');
  await setPolicy('Correct');
  t.true(await eventually(serviceExists, 20_000), 'Correct makes it again');
  t.true(await eventually(() => inSync('pgdb', 'my-app-db')));
});

test.serial(
  "the Database's Service naming another owner uid (left by a Database of the same name): Ready=False ServiceOutOfDate, its ownerReference made the Database's again",
  async (t) => {
    await setPolicy('Report');
    t.teardown(() => setPolicy('Correct'));
    const database = JSON.parse((await local.kubectl(['get', 'pgdb', 'my-app-db', '-o', 'json'])).stdout);
    const owners = async () =>
      JSON.parse((await local.kubectl(['get', 'service', 'my-app-db-svc', '-o', 'json'])).stdout).metadata.ownerReferences;
    t.like(await owners(), [{ apiVersion: database.apiVersion, kind: 'Database', name: 'my-app-db', uid: database.metadata.uid }]);
    const stale = {
      metadata: {
        ownerReferences: [
          {
            apiVersion: database.apiVersion,
            kind: 'Database',
            name: 'my-app-db',
            uid: '00000000-0000-4000-8000-000000000000',
            controller: true,
          },
        ],
      },
    };
    t.is((await local.kubectl(['patch', 'service', 'my-app-db-svc', '--type', 'merge', '-p', JSON.stringify(stale)])).code, 0);
    t.true(
      await eventually(
        async () =>
          (await statusOf('pgdb', 'my-app-db')).conditions?.some(
            (c) =>
              c.type === 'Ready' &&
              c.status === 'False' &&
              (c as { reason?: string }).reason === 'ServiceOutOfDate' &&
              /names another owner than this Database/.test((c as { message?: string }).message ?? ''),
          ) === true,
      ),
    );
    await setPolicy('Correct');
    t.true(
      await eventually(async () => (await owners())?.[0]?.uid === database.metadata.uid, 20_000),
      'Correct names the Database, by its uid, as the owner again',
    );
    t.is((await owners()).length, 1);
    t.true(await eventually(() => inSync('pgdb', 'my-app-db')));
  },
);

test.serial(
  'a connectionSecret deleted or edited by hand: Ready=False ConnectionSecretDrift under Report, written again under Correct',
  async (t) => {
    const applied = await local.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: reporter, namespace: default}
spec:
  roleName: reporter
  password: {name: reporter-password, generate: true}
  connectionSecret: {name: reporter-credentials, database: ${database}}
  databaseClusterRef: {name: main-cluster}
  permissions: [{database: ${database}}]
`,
    );
    t.is(applied.code, 0, applied.stderr);
    const uri = async () => {
      const got = await local.kubectl(['get', 'secret', 'reporter-credentials', '-o', 'jsonpath={.data.uri}']);
      return got.code === 0 && got.stdout ? Buffer.from(got.stdout, 'base64').toString('utf8') : undefined;
    };
    const original = await uri();
    t.truthy(original);
    const driftShown = async () =>
      (await statusOf('pgrole', 'reporter')).conditions?.some(
        (c) => c.type === 'Ready' && (c as { reason?: string }).reason === 'ConnectionSecretDrift',
      ) === true;
    for (const change of [
      ['delete', 'secret', 'reporter-credentials'],
      ['patch', 'secret', 'reporter-credentials', '--type', 'merge', '-p', '{"stringData":{"uri":"postgresql://elsewhere"}}'],
    ]) {
      await setPolicy('Report');
      t.is((await local.kubectl(change)).code, 0);
      t.true(await eventually(driftShown), `${change[0]}: the status shows it`);
      t.not(await uri(), original, `${change[0]}: Report leaves it`);
      await setPolicy('Correct');
      t.true(await eventually(async () => (await uri()) === original, 20_000), `${change[0]}: Correct writes it again`);
      t.true(await eventually(() => inSync('pgrole', 'reporter')));
    }
    t.false(
      (await statusOf('pgrole', 'reporter')).conditions?.some((c) => JSON.stringify(c).includes('elsewhere')),
      'no value in the status',
    );
  },
);
