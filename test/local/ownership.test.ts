// What existed before belongs to nobody: a role or database made by hand is never taken over, altered or dropped
// unless the DatabaseCluster's spec.adoption lets that namespace adopt it; the record of what this server owns
// lives on the PostgreSQL server, out of every tenant's reach, and outlives a lost object store. Against a
// cluster connecting as the superuser and one connecting as an RDS-like admin.
import test from 'ava';
import { extraCluster, patchClusterSpec, startSharedLocal, type LocalServer } from '../support/local.ts';
import { asUser, createAdmin, sql, unique } from '../support/postgres.ts';
import { rawClient, type RawRequest } from '../support/rawclient.ts';

let local: LocalServer;
let request: RawRequest;
let adminDsn: string;

const group = '/apis/postgres.databases.dinhloc.dev/v1alpha1';
const connectingKinds = ['superuser', 'rds-admin'] as const;
type Connecting = (typeof connectingKinds)[number];
const clusterOf = (connecting: Connecting) => (connecting === 'superuser' ? 'main-cluster' : 'admin-cluster');
const dsnOf = (connecting: Connecting) => (connecting === 'superuser' ? local.postgresDsn : adminDsn);

test.before(async () => {
  local = await startSharedLocal();
  request = rawClient(local.kubeconfig);
  adminDsn = await createAdmin(local.postgresDsn);
  const applied = await local.kubectl(['apply', '-f', '-'], extraCluster('admin-cluster', adminDsn));
  if (applied.code !== 0) throw new Error(applied.stderr);
});
test.after.always(async () => local?.stop());

function role(connecting: Connecting, name: string, spec: Record<string, unknown>, namespace = 'default') {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name, namespace },
    spec: { databaseClusterRef: { name: clusterOf(connecting) }, ...spec },
  };
}

function database(connecting: Connecting, name: string, spec: Record<string, unknown>, namespace = 'default') {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'Database',
    metadata: { name, namespace },
    spec: { databaseClusterRef: { name: clusterOf(connecting) }, ...spec },
  };
}

const post = (object: { kind: string; metadata: { namespace: string } }) =>
  request(`${group}/namespaces/${object.metadata.namespace}/${object.kind === 'Database' ? 'databases' : 'databaseroles'}`, 'POST', object);

async function adoption(connecting: Connecting, rules: unknown[] | null): Promise<void> {
  await patchClusterSpec(local, clusterOf(connecting), { adoption: rules });
}

/** Whether `password` logs in as `user`. */
const logsIn = (user: string, password: string) =>
  sql(asUser(local.postgresDsn, user, password), 'SELECT 1').then(
    () => true,
    () => false,
  );

for (const connecting of connectingKinds) {
  test.serial(
    `${connecting}: a role made by hand is refused with 409 AlreadyExists naming adoption, and keeps its password and attributes`,
    async (t) => {
      const roleName = unique('by_hand');
      await sql(local.postgresDsn, `CREATE ROLE ${roleName} LOGIN PASSWORD 'theirs' CONNECTION LIMIT 7`);
      const taken = await post(
        role(connecting, 'takeover', { roleName, password: { name: 'app-user-password' }, reclaimPolicy: 'Delete' }),
      );
      t.is(taken.status, 409, taken.text);
      t.like(taken.json(), { reason: 'AlreadyExists' });
      t.regex(taken.json().message, new RegExp(`role "${roleName}" exists and no object manages it: .*spec\\.adoption`));
      t.true(await logsIn(roleName, 'theirs'), 'its password was not replaced');
      t.deepEqual(await sql(local.postgresDsn, 'SELECT rolconnlimit AS limit FROM pg_roles WHERE rolname = $1', { params: [roleName] }), [
        { limit: 7 },
      ]);
      t.is((await request(`${group}/namespaces/default/databaseroles/takeover`)).status, 404);
    },
  );

  test.serial(`${connecting}: a database made by hand is refused with 409 and survives (no Delete can reach it)`, async (t) => {
    const name = unique('hand_db');
    await sql(local.postgresDsn, `CREATE DATABASE ${name}`);
    const taken = await post(database(connecting, 'takeover-db', { name, reclaimPolicy: 'Delete' }));
    t.is(taken.status, 409, taken.text);
    t.regex(taken.json().message, new RegExp(`database "${name}" exists and no object manages it`));
    t.deepEqual(await sql(local.postgresDsn, 'SELECT datname FROM pg_database WHERE datname = $1', { params: [name] }), [
      { datname: name },
    ]);
  });

  test.serial(
    `${connecting}: spec.adoption lets a namespace adopt matching names only; Delete on an adopted role is 422 unless allowDelete`,
    async (t) => {
      const roleName = unique('legacy');
      // Made by hand by the connecting user: an RDS-like admin may manage only the roles it made.
      await sql(dsnOf(connecting), `CREATE ROLE ${roleName} LOGIN PASSWORD 'theirs'`);
      await adoption(connecting, [{ namespaces: ['def*'], roles: ['legacy_*'] }]);
      t.teardown(() => adoption(connecting, null));
      const elsewhere = await post(role(connecting, 'adopter', { roleName }, 'team-b'));
      t.is(elsewhere.status, 409, 'team-b matches no rule');
      const deleting = await post(role(connecting, 'adopter', { roleName, reclaimPolicy: 'Delete' }));
      t.is(deleting.status, 422, deleting.text);
      t.like(deleting.json(), { reason: 'Invalid', details: { causes: [{ field: 'spec.reclaimPolicy' }] } });
      const adopted = await post(role(connecting, 'adopter', { roleName, connectionLimit: 3 }));
      t.is(adopted.status, 201, adopted.text);
      t.deepEqual(
        await sql(local.postgresDsn, 'SELECT rolconnlimit AS limit FROM pg_roles WHERE rolname = $1', { params: [roleName] }),
        [{ limit: 3 }],
        'adopted, it is managed',
      );
      const schema = (
        await sql<{ s: string }>(
          dsnOf(connecting),
          `SELECT 'postgres_apiserver_' || (SELECT oid FROM pg_roles WHERE rolname = current_user) AS s`,
        )
      )[0]!.s;
      t.deepEqual(
        await sql(dsnOf(connecting), `SELECT namespace, object, adopted FROM "${schema}".owners WHERE kind = 'role' AND name = $1`, {
          params: [roleName],
        }),
        [{ namespace: 'default', object: 'adopter', adopted: true }],
      );
      await adoption(connecting, [{ namespaces: ['default'], roles: ['legacy_*'], allowDelete: true }]);
      const allowed = await request(
        `${group}/namespaces/default/databaseroles/adopter`,
        'PATCH',
        { spec: { reclaimPolicy: 'Delete' } },
        'application/merge-patch+json',
      );
      t.is(allowed.status, 200, allowed.text);
      t.is((await request(`${group}/namespaces/default/databaseroles/adopter`, 'DELETE')).status, 200);
      t.deepEqual(
        await sql(local.postgresDsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [roleName] }),
        [],
        'dropped, as the rule allows',
      );
    },
  );

  test.serial(
    `${connecting}: the record outlives a lost object store: the namespace that made a role takes it back, another gets 409`,
    async (t) => {
      const roleName = unique('kept');
      const name = `kept-${connecting}`;
      t.is((await post(role(connecting, name, { roleName }))).status, 201);
      // The store loses the object (a restore from an old backup, a store started empty): its tables are changed
      // behind the server's back, and the server restarts, as kube-apiserver does after an etcd restore (its
      // memory of the store is not what is tested here; the ownership record is).
      const store = new URL(local.storeDsn).toString();
      await sql(store, 'DELETE FROM apiserver.objects WHERE name = $1', { params: [name] });
      await sql(store, 'DELETE FROM apiserver.claims WHERE name = $1', { params: [roleName] });
      t.deepEqual(await sql(store, 'SELECT 1 FROM apiserver.objects WHERE name = $1', { params: [name] }), []);
      local = await local.restart();
      request = rawClient(local.kubeconfig);
      const other = await post(role(connecting, name, { roleName }, 'team-b'));
      t.is(other.status, 409, other.text);
      t.regex(other.json().message, new RegExp(`role "${roleName}" belongs to default/${name}`));
      const back = await post(role(connecting, name, { roleName }));
      t.is(back.status, 201, back.text);
    },
  );

  test.serial(`${connecting}: the records' table dropped by hand is made again by the next write that records`, async (t) => {
    const schema = (
      await sql<{ s: string }>(
        dsnOf(connecting),
        `SELECT 'postgres_apiserver_' || (SELECT oid FROM pg_roles WHERE rolname = current_user) AS s`,
      )
    )[0]!.s;
    const first = unique('recorded');
    t.is((await post(role(connecting, `recorded-${connecting}`, { roleName: first }))).status, 201);
    await sql(dsnOf(connecting), `DROP TABLE "${schema}".owners`);
    const second = unique('recorded');
    const created = await post(role(connecting, `recorded-again-${connecting}`, { roleName: second }));
    t.is(created.status, 201, created.text);
    t.deepEqual(
      await sql(dsnOf(connecting), `SELECT object FROM "${schema}".owners WHERE kind = 'role' AND name = $1`, { params: [second] }),
      [{ object: `recorded-again-${connecting}` }],
    );
  });

  test.serial(`${connecting}: no role this server makes can read or change the ownership records`, async (t) => {
    const roleName = unique('curious');
    t.is((await post(role(connecting, `curious-${connecting}`, { roleName, password: { name: 'app-user-password' } }))).status, 201);
    const schema = (
      await sql<{ s: string }>(
        dsnOf(connecting),
        `SELECT 'postgres_apiserver_' || (SELECT oid FROM pg_roles WHERE rolname = current_user) AS s`,
      )
    )[0]!.s;
    const tenant = asUser(local.postgresDsn, roleName, 'strong-password-here');
    await t.throwsAsync(sql(tenant, `SELECT * FROM "${schema}".owners`), { message: /permission denied/ });
    await t.throwsAsync(sql(tenant, `DELETE FROM "${schema}".owners`), { message: /permission denied/ });
  });
}
