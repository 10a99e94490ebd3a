// The fast path of drift detection from a database's first second, and for what event triggers never see. Every
// cluster here resyncs once an hour: a correction within the (generous) deadlines below can only come from the
// fast path — the event triggers the create installs, the listener it starts, and the digest of the managed
// roles and databases read twice a second.
import test from 'ava';
import pg from 'pg';
import { connectionConfig } from '../../storage/catalog/dsn.ts';
import {
  clusterManifests,
  eventually,
  extraCluster,
  manageCluster,
  memberManifests,
  memberPassword,
  reconcilePasses,
  startLocal,
  type LocalServer,
} from '../support/local.ts';
import { asUser, createAdmin, sql } from '../support/postgres.ts';

let local: LocalServer;
let adminDsn: string;
/** Each cluster's own DSN. */
const clusterDsn: Record<string, string> = {};
test.before(async () => {
  local = await startLocal();
  adminDsn = await createAdmin(local.postgresDsn);
  Object.assign(clusterDsn, { attrs: local.postgresDsn, rdsattrs: adminDsn });
  // born: a cluster with no database yet, whose loop has made its first pass.
  const born = await local.kubectl(['apply', '-f', '-'], extraCluster('born', local.postgresDsn, ', resyncInterval: 1h'));
  if (born.code !== 0) throw new Error(born.stderr);
  for (const [name, dsn] of [
    ['attrs', local.postgresDsn],
    ['rdsattrs', adminDsn],
  ] as const) {
    await manageCluster(local, name, dsn, '1h');
    const members = await local.kubectl(['apply', '-f', '-'], memberManifests(name));
    if (members.code !== 0) throw new Error(members.stderr);
  }
  const converged = async (name: string) =>
    (await holds(`pg_has_role('${name}_member', '${name}_group', 'MEMBER')`)) && (await connects(name)) && (await canLogIn(name));
  if (
    !(await eventually(
      async () => (await converged('attrs')) && (await converged('rdsattrs')) && (await reconcilePasses(local, 'born')) > 0,
      60_000,
    ))
  )
    throw new Error('the clusters did not converge');
});
test.after.always(async () => local?.stop());

async function holds(query: string, database = 'postgres'): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }>(local.postgresDsn, `SELECT (${query}) AS ok`, { database });
  return row?.ok === true;
}

/** An explicit CONNECT for the member in the database's ACL (PUBLIC has one too, by default). */
const connectsSql = (name: string) =>
  `EXISTS (SELECT FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = '${name}_db' AND a.grantee = '${name}_member'::regrole AND a.privilege_type = 'CONNECT')`;
const connects = (name: string) => holds(connectsSql(name));

const canLogIn = (name: string) =>
  sql(asUser(local.postgresDsn, `${name}_member`, memberPassword(name)), 'SELECT 1', { database: `${name}_db` }).then(
    () => true,
    () => false,
  );

const ourObjects = (database: string) =>
  sql<{ what: string }>(
    local.postgresDsn,
    `SELECT 'trigger ' || evtname AS what FROM pg_event_trigger WHERE evtname LIKE 'postgres\\_apiserver\\_%'
     UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname = 'postgres_apiserver'
     UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname = 'notify_drift'
     ORDER BY 1`,
    { database },
  ).then((rows) => rows.map((r) => r.what));

const installed = [
  'function notify_drift',
  'schema postgres_apiserver',
  'trigger postgres_apiserver_drift_ddl',
  'trigger postgres_apiserver_drift_drop',
];

test.serial(
  'a Database created by a superuser has its event triggers when the create answers; a REVOKE a second later is corrected long before the 1h resync',
  async (t) => {
    const parts = clusterManifests('born', local.postgresDsn, '1h').split('---\n');
    const applied = await local.kubectl(['apply', '-f', '-'], [parts[2], parts[3]].join('---\n'));
    const createdAt = Date.now();
    t.is(applied.code, 0, applied.stderr);
    t.deepEqual(await ourObjects('born_db'), installed, 'installed by the write that created the database');
    await sql(local.postgresDsn, 'CREATE TABLE orders (id int)', { database: 'born_db' });
    const granted = () => holds(`has_table_privilege('born_user', 'orders', 'SELECT')`, 'born_db');
    t.true(await eventually(granted, 20_000), "the table's default privileges");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, createdAt + 1_000 - Date.now()))); // the moment the issue names
    await sql(local.postgresDsn, 'REVOKE SELECT ON orders FROM born_user', { database: 'born_db' });
    t.true(await eventually(granted, 20_000), 'corrected without waiting for the resync');
  },
);

test.serial('a Database created by an RDS-like admin answers without a Warning and installs nothing of the fast path', async (t) => {
  const applied = await local.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: rds-born, namespace: default}
spec: {name: rds_born_db, databaseClusterRef: {name: rdsattrs}}
`,
  );
  t.is(applied.code, 0, applied.stderr);
  t.notRegex(applied.stderr, /Warning/);
  t.deepEqual(await ourObjects('rds_born_db'), []);
});

test.serial(
  'a Database deleted with reclaimPolicy Retain keeps its database, without our schema, function and event triggers',
  async (t) => {
    const applied = await local.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: kept, namespace: default}
spec: {name: kept_db, databaseClusterRef: {name: born}, reclaimPolicy: Retain}
`,
    );
    t.is(applied.code, 0, applied.stderr);
    t.deepEqual(await ourObjects('kept_db'), installed);
    const listened = () =>
      holds(`EXISTS (SELECT FROM pg_stat_activity WHERE datname = 'kept_db' AND application_name = 'postgres-apiserver drift listener')`);
    t.true(await eventually(listened, 20_000), 'its listener started');
    const deleted = await local.kubectl(['delete', 'pgdb', 'kept']);
    t.is(deleted.code, 0, deleted.stderr);
    t.true(await eventually(async () => (await ourObjects('kept_db')).length === 0, 20_000), (await ourObjects('kept_db')).join(', '));
    t.true(await eventually(async () => !(await listened()), 20_000), 'its listener stopped');
    t.deepEqual(await ourObjects('kept_db'), [], 'and nothing was put back meanwhile');
    t.true(await holds(`EXISTS (SELECT FROM pg_database WHERE datname = 'kept_db')`), 'the database is kept');
  },
);

interface AttributeDrift {
  name: string;
  /** The change by hand on cluster `c`, as the superuser (or as the cluster's user, who granted what it revokes). */
  byHand: (c: string) => string;
  asClusterUser?: true;
  /** A query that holds when the catalog is as the spec says; without one, the member logging in with its Secret's password. */
  specifiedSql?: (c: string) => string;
  /** Found without a superuser too (pg_roles, pg_auth_members and pg_database are readable by anyone). */
  withoutSuperuser: boolean;
}

const drifts: AttributeDrift[] = [
  {
    name: 'ALTER ROLE … NOLOGIN',
    byHand: (c) => `ALTER ROLE ${c}_member NOLOGIN`,
    specifiedSql: (c) => `(SELECT rolcanlogin FROM pg_roles WHERE rolname = '${c}_member')`,
    withoutSuperuser: true,
  },
  {
    name: 'ALTER ROLE … PASSWORD',
    byHand: (c) => `ALTER ROLE ${c}_member PASSWORD 'changed-by-hand'`,
    withoutSuperuser: false,
  },
  {
    name: 'ALTER ROLE … CONNECTION LIMIT',
    byHand: (c) => `ALTER ROLE ${c}_member CONNECTION LIMIT 7`,
    specifiedSql: (c) => `(SELECT rolconnlimit = -1 FROM pg_roles WHERE rolname = '${c}_member')`,
    withoutSuperuser: true,
  },
  {
    name: 'ALTER ROLE … VALID UNTIL',
    byHand: (c) => `ALTER ROLE ${c}_member VALID UNTIL '2031-01-01'`,
    specifiedSql: (c) => `(SELECT rolvaliduntil IS NULL OR rolvaliduntil = 'infinity' FROM pg_roles WHERE rolname = '${c}_member')`,
    withoutSuperuser: true,
  },
  {
    // From PostgreSQL 16 a REVOKE removes only its grantor's grants: the cluster's user granted it.
    name: 'REVOKE <group> FROM <member>',
    byHand: (c) => `REVOKE ${c}_group FROM ${c}_member`,
    asClusterUser: true,
    specifiedSql: (c) => `pg_has_role('${c}_member', '${c}_group', 'MEMBER')`,
    withoutSuperuser: true,
  },
  {
    name: 'REVOKE CONNECT ON DATABASE … FROM <member>',
    byHand: (c) => `REVOKE CONNECT ON DATABASE ${c}_db FROM ${c}_member`,
    specifiedSql: (c) => connectsSql(c),
    withoutSuperuser: true,
  },
];

const specified = (drift: AttributeDrift, cluster: string) => (drift.specifiedSql ? holds(drift.specifiedSql(cluster)) : canLogIn(cluster));

/** The change made in a transaction that checks it took (a REVOKE of what another role granted does nothing). */
async function makeDrift(drift: AttributeDrift, cluster: string): Promise<boolean> {
  const dsn = drift.asClusterUser ? clusterDsn[cluster]! : local.postgresDsn;
  const client = new pg.Client(connectionConfig(dsn));
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(drift.byHand(cluster));
    const { rows } = await client.query<{ ok: boolean }>(
      drift.specifiedSql ? `SELECT NOT ${drift.specifiedSql(cluster)} AS ok` : 'SELECT true AS ok',
    );
    await client.query('COMMIT');
    return rows[0]?.ok === true;
  } finally {
    await client.end();
  }
}

for (const [cluster, who] of [
  ['attrs', 'a superuser'],
  ['rdsattrs', 'an RDS-like admin'],
] as const) {
  for (const drift of drifts.filter((d) => cluster === 'attrs' || d.withoutSuperuser)) {
    test.serial(`${drift.name} by hand is corrected long before the 1h resync, connected as ${who}`, async (t) => {
      t.true(await specified(drift, cluster), 'as specified before');
      t.true(await makeDrift(drift, cluster), 'the change by hand took');
      t.true(await eventually(() => specified(drift, cluster), 20_000));
    });
  }
}
