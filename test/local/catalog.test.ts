// Local mode end to end with kubectl and the embedded PostgreSQL: the guide's objects become a database, a
// role that logs in and its grants; reads show the live catalog; tenancy and bad references are refused.
import test from 'ava';
import { asUser, sql } from '../support/postgres.ts';
import { eventually, passOver, startLocalWithGuide, type LocalServer } from '../support/local.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
});
test.after.always(async () => local?.stop());

async function json(args: string[]) {
  const result = await local.kubectl([...args, '-o', 'json']);
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

function condition(
  object: { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } },
  type: string,
) {
  return object.status?.conditions?.find((c) => c.type === type);
}

test.serial("the guide's objects exist in PostgreSQL: the database, the role with its password, and its grants", async (t) => {
  const [database] = await sql(local.postgresDsn, 'SELECT datname FROM pg_database WHERE datname = $1', {
    params: ['my_app_db_production'],
  });
  t.truthy(database);
  const login = asUser(local.postgresDsn, 'my_app_user', 'strong-password-here');
  t.deepEqual(await sql(login, 'SELECT current_user AS who', { database: 'my_app_db_production' }), [{ who: 'my_app_user' }]);
  const [grants] = await sql(
    local.postgresDsn,
    "SELECT has_schema_privilege('my_app_user', 'public', 'CREATE') AS create, has_database_privilege('my_app_user', 'my_app_db_production', 'CONNECT') AS connect",
    { database: 'my_app_db_production' },
  );
  t.deepEqual(grants, { create: true, connect: true });
  await t.throwsAsync(sql(asUser(local.postgresDsn, 'my_app_user', 'wrong'), 'SELECT 1', { database: 'my_app_db_production' }), {
    message: /password authentication failed/,
  });
});

test.serial('kubectl get databasecluster main-cluster -o yaml shows it connected', async (t) => {
  const cluster = await json(['get', 'databasecluster', 'main-cluster']);
  t.like(condition(cluster, 'Ready'), { status: 'True', reason: 'Connected' });
  t.regex(cluster.status.serverVersion, /^17\.\d+$/);
  t.like(cluster.status, { databases: 1, roles: 1, observedGeneration: 1 });
  t.false(JSON.stringify(cluster).includes(new URL(local.postgresDsn).password), 'no password in the object');
});

test.serial('kubectl get database shows its size on disk and how many connections it has', async (t) => {
  const database = await json(['get', 'database', 'my-app-db']);
  t.true(database.status.sizeBytes > 1_000_000, `a database is a few MB on disk, not ${database.status.sizeBytes}`);
  t.true(Number.isInteger(database.status.connections), `connections is counted, not ${database.status.connections}`);
});

test.serial('under driftPolicy Report, a REVOKE by hand shows as drift in kubectl get, naming the privilege', async (t) => {
  t.is((await local.kubectl(['patch', 'pgcluster', 'main-cluster', '--type', 'merge', '-p', '{"spec":{"driftPolicy":"Report"}}'])).code, 0);
  t.teardown(() => local.kubectl(['patch', 'pgcluster', 'main-cluster', '--type', 'merge', '-p', '{"spec":{"driftPolicy":"Correct"}}']));
  await sql(local.postgresDsn, 'CREATE TABLE orders (id int); REVOKE DELETE ON orders FROM my_app_user', {
    database: 'my_app_db_production',
  });
  const role = await json(['get', 'databaserole', 'app-user']);
  t.like(condition(role, 'InSync'), { status: 'False', reason: 'Drift' });
  t.deepEqual(role.status.drift, [
    {
      kind: 'table',
      database: 'my_app_db_production',
      schema: 'public',
      object: 'orders',
      privilege: 'DELETE',
      expected: 'granted',
      actual: 'revoked',
    },
  ]);
  const { stdout } = await local.kubectl(['get', 'pgrole', 'app-user']);
  t.regex(stdout, /app-user\s+my_app_user\s+main-cluster\s+True\s+False\s+1/);
  t.true(await passOver(local, 'main-cluster'), 'a whole pass of the reconciler ran since');
  t.like(condition(await json(['get', 'databaserole', 'app-user']), 'InSync'), { status: 'False' }, 'Report leaves the drift alone');
  const messages = async () =>
    (
      await local.kubectl([
        'get',
        'events',
        '--field-selector',
        'involvedObject.name=app-user,reason=DriftDetected',
        '-o',
        'jsonpath={.items[*].message}',
      ])
    ).stdout;
  // Events are sent in the background: the pass may be over before its Event is stored.
  t.true(await eventually(async () => (await messages()) !== ''));
  t.is(
    await messages(),
    '1 difference between the spec and the catalog: table my_app_db_production.public.orders: DELETE expected granted, found revoked',
    'one Warning for the drift, however often it was read',
  );
  // A write of the role applies its spec again.
  await local.kubectl(['annotate', 'pgrole', 'app-user', 'resync=1']);
  t.like(condition(await json(['get', 'databaserole', 'app-user']), 'InSync'), { status: 'True' });
});

test.serial('under driftPolicy Correct (the default), a REVOKE by hand is corrected within seconds', async (t) => {
  await sql(local.postgresDsn, 'CREATE TABLE IF NOT EXISTS invoices (id int); REVOKE SELECT ON invoices FROM my_app_user', {
    database: 'my_app_db_production',
  });
  const regranted = () =>
    sql<{ ok: boolean }>(local.postgresDsn, "SELECT has_table_privilege('my_app_user', 'invoices', 'SELECT') AS ok", {
      database: 'my_app_db_production',
    }).then(([r]) => r!.ok);
  t.true(await eventually(regranted));
  t.true(await eventually(async () => condition(await json(['get', 'databaserole', 'app-user']), 'InSync')?.status === 'True'));
});

test.serial("a DatabaseRole of namespace team-b cannot be granted team-a's database, and nothing changes", async (t) => {
  await local.kubectl(['create', 'namespace', 'team-b']);
  const manifest = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: intruder, namespace: team-b}
spec:
  roleName: intruder
  databaseClusterRef: {name: main-cluster}
  permissions: [{database: my_app_db_production, privileges: [CONNECT]}]
`;
  const result = await local.kubectl(['apply', '-f', '-'], manifest);
  t.not(result.code, 0);
  t.regex(
    result.stderr,
    /Forbidden.*spec.permissions\[0\].database: Forbidden: database "my_app_db_production" is managed by a Database in namespace "default"/,
  );
  t.deepEqual(await sql(local.postgresDsn, "SELECT 1 FROM pg_roles WHERE rolname = 'intruder'"), []);
});

test.serial('a role name owned by another namespace is a conflict', async (t) => {
  const manifest = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: copycat, namespace: team-b}
spec: {roleName: my_app_user, databaseClusterRef: {name: main-cluster}}
`;
  const result = await local.kubectl(['apply', '-f', '-'], manifest);
  t.not(result.code, 0);
  t.regex(result.stderr, /role name "my_app_user" on DatabaseCluster "main-cluster" belongs to default\/app-user/);
});

test.serial('a Database or DatabaseRole in a namespace that does not exist is 404, as kube-apiserver answers', async (t) => {
  const manifest = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: nowhere, namespace: no-such-namespace}
spec: {name: nowhere_db, databaseClusterRef: {name: main-cluster}}
`;
  const result = await local.kubectl(['create', '-f', '-'], manifest);
  t.not(result.code, 0);
  t.regex(result.stderr, /namespaces "no-such-namespace" not found/);
  t.deepEqual(await sql(local.postgresDsn, "SELECT 1 FROM pg_database WHERE datname = 'nowhere_db'"), []);
});

test.serial('an unknown cluster reference is 422 naming the field', async (t) => {
  const manifest = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: orphan, namespace: default}
spec: {name: orphan_db, databaseClusterRef: {name: no-such-cluster}}
`;
  const result = await local.kubectl(['apply', '-f', '-'], manifest);
  t.not(result.code, 0);
  t.regex(result.stderr, /spec.databaseClusterRef.name: Not found: "no-such-cluster"/);
  t.deepEqual(await sql(local.postgresDsn, "SELECT 1 FROM pg_database WHERE datname = 'orphan_db'"), []);
});

test.serial('a cluster whose Secret holds a malformed DSN is accepted, not Ready, and its status never quotes the value', async (t) => {
  const secret = 'not a dsn, with password hunter2';
  await local.kubectl(['create', 'secret', 'generic', 'broken-connection', '-n', 'default', `--from-literal=connection=${secret}`]);
  const manifest = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: broken}
spec: {connection: {name: broken-connection, namespace: default}}
`;
  t.is((await local.kubectl(['apply', '-f', '-'], manifest)).code, 0);
  const cluster = await json(['get', 'databasecluster', 'broken']);
  t.like(condition(cluster, 'Ready'), { status: 'False', reason: 'MalformedDSN' });
  t.false(JSON.stringify(cluster).includes('hunter2'));
  const described = await local.kubectl(['describe', 'databasecluster', 'broken']);
  t.false(described.stdout.includes('hunter2'));
});

test.serial('reclaimPolicy Delete drops the role when the DatabaseRole is deleted; Retain keeps it', async (t) => {
  const manifest = (name: string, policy: string) => `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${name.replaceAll('_', '-')}, namespace: default}
spec: {roleName: ${name}, databaseClusterRef: {name: main-cluster}, reclaimPolicy: ${policy}, permissions: [{database: my_app_db_production}]}
`;
  t.is((await local.kubectl(['apply', '-f', '-'], manifest('doomed_user', 'Delete') + '---\n' + manifest('kept_user', 'Retain'))).code, 0);
  t.is((await local.kubectl(['delete', 'pgrole', 'doomed-user', 'kept-user'])).code, 0);
  t.deepEqual(await sql(local.postgresDsn, "SELECT rolname FROM pg_roles WHERE rolname IN ('doomed_user', 'kept_user')"), [
    { rolname: 'kept_user' },
  ]);
});

test.serial('a Delete that cannot drop yet keeps the object marked for deletion; the reconciler finishes it once it can', async (t) => {
  const goodDsn = local.postgresDsn;
  const badDsn = asUser(goodDsn, 'postgres', 'wrong-password');
  const secret = (dsn: string) =>
    `apiVersion: v1\nkind: Secret\nmetadata: {name: second-connection, namespace: default}\nstringData: {connection: "${dsn}"}\n`;
  const objects = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: second}
spec: {connection: {name: second-connection, namespace: default}}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: lingering, namespace: default}
spec: {name: lingering_db, databaseClusterRef: {name: second}, reclaimPolicy: Delete}
`;
  t.is((await local.kubectl(['apply', '-f', '-'], `${secret(goodDsn)}---\n${objects}`)).code, 0);
  t.deepEqual((await json(['get', 'pgdb', 'lingering'])).metadata.finalizers, ['postgres.databases.dinhloc.dev/reclaim']);
  t.is((await local.kubectl(['apply', '-f', '-'], secret(badDsn))).code, 0);

  const deleted = await local.kubectl(['delete', 'pgdb', 'lingering', '--wait=false']);
  t.is(deleted.code, 0, deleted.stderr);
  t.regex(deleted.stderr, /Warning: cannot drop database "lingering_db" yet: .*password authentication failed/);
  t.false(deleted.stderr.includes('wrong-password'));
  t.truthy((await json(['get', 'pgdb', 'lingering'])).metadata.deletionTimestamp);
  t.deepEqual(await sql(goodDsn, "SELECT datname FROM pg_database WHERE datname = 'lingering_db'"), [{ datname: 'lingering_db' }]);

  t.is((await local.kubectl(['apply', '-f', '-'], secret(goodDsn))).code, 0);
  t.true(await eventually(async () => (await local.kubectl(['get', 'pgdb', 'lingering'])).code !== 0, 15_000));
  t.deepEqual(await sql(goodDsn, "SELECT datname FROM pg_database WHERE datname = 'lingering_db'"), []);
});

test.serial(
  'databaseServiceName makes a Service that reaches the server, never takes over another, and goes with the Database',
  async (t) => {
    const port = Number(new URL(local.postgresDsn).port);
    const service = JSON.parse((await local.kubectl(['get', 'service', 'my-app-db-svc', '-o', 'json'])).stdout);
    t.like(service, {
      spec: { type: 'ClusterIP', ports: [{ name: 'postgres', port, targetPort: port }] },
      metadata: {
        labels: { 'app.kubernetes.io/managed-by': 'postgres-apiserver', 'postgres.databases.dinhloc.dev/database': 'my-app-db' },
      },
    });
    t.is((await json(['get', 'pgdb', 'my-app-db'])).status.serviceName, 'my-app-db-svc');

    const theirs =
      'apiVersion: v1\nkind: Service\nmetadata: {name: taken-svc, namespace: default}\nspec: {type: ExternalName, externalName: elsewhere.example}\n';
    t.is((await local.kubectl(['apply', '-f', '-'], theirs)).code, 0);
    const database = (name: string, svc: string) =>
      `apiVersion: postgres.databases.dinhloc.dev/v1alpha1\nkind: Database\nmetadata: {name: ${name}, namespace: default}\nspec: {name: ${name.replace('-', '_')}, databaseClusterRef: {name: main-cluster}, databaseServiceName: ${svc}}\n`;
    const refused = await local.kubectl(['apply', '-f', '-'], database('svc-taken', 'taken-svc'));
    t.is(refused.code, 0);
    t.regex(refused.stderr, /Warning: Service default\/taken-svc exists and was not created for this Database: it is left alone/);
    t.is(JSON.parse((await local.kubectl(['get', 'service', 'taken-svc', '-o', 'json'])).stdout).spec.externalName, 'elsewhere.example');

    t.is((await local.kubectl(['apply', '-f', '-'], database('svc-owned', 'owned-svc'))).code, 0);
    t.is((await local.kubectl(['get', 'service', 'owned-svc'])).code, 0);
    t.is((await local.kubectl(['delete', 'pgdb', 'svc-owned'])).code, 0);
    t.not((await local.kubectl(['get', 'service', 'owned-svc'])).code, 0, 'the Service went with its Database');
    t.is((await local.kubectl(['delete', 'pgdb', 'svc-taken'])).code, 0);
    t.is((await local.kubectl(['get', 'service', 'taken-svc'])).code, 0, 'a Service it did not make stays');
  },
);

test.serial(
  'connectionSecret gives the application a Secret it can connect with, and never overwrites a Secret it did not write',
  async (t) => {
    const role = (name: string, secret: string) => `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${name.replaceAll('_', '-')}, namespace: default}
spec:
  roleName: ${name}
  password: {name: ${name.replaceAll('_', '-')}-password, generate: true}
  connectionSecret: {name: ${secret}, database: my_app_db_production}
  databaseClusterRef: {name: main-cluster}
  permissions: [{database: my_app_db_production}]
`;
    t.is((await local.kubectl(['apply', '-f', '-'], role('reporting_user', 'reporting-credentials'))).code, 0);
    const secret = JSON.parse((await local.kubectl(['get', 'secret', 'reporting-credentials', '-o', 'json'])).stdout);
    const data = Object.fromEntries(
      Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    t.deepEqual(Object.keys(data).sort(), ['dbname', 'host', 'jdbc-uri', 'password', 'pgpass', 'port', 'uri', 'username']);
    t.deepEqual(await sql(data.uri!, 'SELECT current_user AS who, current_database() AS db'), [
      { who: 'reporting_user', db: 'my_app_db_production' },
    ]);

    t.is((await local.kubectl(['create', 'secret', 'generic', 'someone-elses', '--from-literal=keep=me'])).code, 0);
    const refused = await local.kubectl(['apply', '-f', '-'], role('other_user', 'someone-elses'));
    t.regex(refused.stderr, /Warning: Secret default\/someone-elses exists and was not written by this server/);
    const kept = JSON.parse((await local.kubectl(['get', 'secret', 'someone-elses', '-o', 'json'])).stdout);
    t.deepEqual(Object.keys(kept.data), ['keep']);
  },
);

test.serial(
  '--dry-run=server rehearses the SQL in a transaction that is rolled back: the faults a write would meet, and nothing changed',
  async (t) => {
    await sql(local.postgresDsn, "CREATE ROLE weak_admin LOGIN PASSWORD 'weak-admin-password'");
    const weakDsn = asUser(local.postgresDsn, 'weak_admin', 'weak-admin-password');
    t.is((await local.kubectl(['create', 'secret', 'generic', 'weak-connection', `--from-literal=connection=${weakDsn}`])).code, 0);
    const cluster =
      'apiVersion: postgres.databases.dinhloc.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: {name: weak-cluster}\nspec: {connection: {name: weak-connection, namespace: default}}\n';
    t.is((await local.kubectl(['apply', '-f', '-'], cluster)).code, 0);
    const role = (name: string, clusterName: string) =>
      `apiVersion: postgres.databases.dinhloc.dev/v1alpha1\nkind: DatabaseRole\nmetadata: {name: ${name.replace(/_/g, '-')}}\nspec: {roleName: ${name}, databaseClusterRef: {name: ${clusterName}}}\n`;
    const refused = await local.kubectl(['apply', '--dry-run=server', '-f', '-'], role('rehearsed_weak', 'weak-cluster'));
    t.is(refused.code, 0, refused.stderr);
    t.regex(refused.stderr, /Warning: while creating role "rehearsed_weak": permission denied to create role/);
    const rehearsed = await local.kubectl(['apply', '--dry-run=server', '-f', '-'], role('rehearsed_ok', 'main-cluster'));
    t.is(rehearsed.code, 0, rehearsed.stderr);
    t.is(rehearsed.stderr.trim(), 'Warning: dry run, not done: creating role "rehearsed_ok"', 'what the write would do, and no fault');
    // Its grants run in the guide's database, where the role (rolled back) is not: no fault either.
    const granted = `${role('rehearsed_granted', 'main-cluster').trimEnd().replace(/}$/, '')}, permissions: [{database: my_app_db_production}]}\n`;
    const rehearsedGrants = await local.kubectl(['apply', '--dry-run=server', '-f', '-'], granted);
    t.is(rehearsedGrants.code, 0, rehearsedGrants.stderr);
    t.regex(rehearsedGrants.stderr, /Warning: dry run, not done: creating role "rehearsed_granted"/);
    t.regex(
      rehearsedGrants.stderr,
      /Warning: dry run, not done: granting CONNECT on DATABASE "my_app_db_production" to "rehearsed_granted"/,
    );
    t.notRegex(rehearsedGrants.stderr, /does not exist|retried/);
    const database =
      'apiVersion: postgres.databases.dinhloc.dev/v1alpha1\nkind: Database\nmetadata: {name: rehearsed-db}\nspec: {name: rehearsed_db, schema: reporting, databaseClusterRef: {name: main-cluster}}\n';
    const databaseRehearsed = await local.kubectl(['apply', '--dry-run=server', '-f', '-'], database);
    t.is(databaseRehearsed.code, 0, databaseRehearsed.stderr);
    t.regex(databaseRehearsed.stderr, /Warning: dry run, not done: creating database "rehearsed_db"/);
    t.notRegex(databaseRehearsed.stderr, /does not exist|retried/);
    t.deepEqual(
      await sql(
        local.postgresDsn,
        "SELECT rolname FROM pg_roles WHERE rolname LIKE 'rehearsed%' UNION ALL SELECT datname FROM pg_database WHERE datname LIKE 'rehearsed%'",
      ),
      [],
    );
    t.is((await local.kubectl(['get', 'pgrole', 'rehearsed-ok'])).code, 1);
  },
);
