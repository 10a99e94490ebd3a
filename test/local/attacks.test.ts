// What a tenant holding create rights in one namespace tried against a shared DatabaseCluster, each refused
// with 403 naming the field, before any SQL: the server's own roles and databases are out of reach whatever a
// DatabaseCluster says. Run against a cluster connecting as the superuser and one connecting as an RDS-like
// admin (CREATEDB, CREATEROLE, no superuser).
import test from 'ava';
import { extraCluster, patchClusterSpec, startSharedLocal, type LocalServer } from '../support/local.ts';
import { createAdmin, sql, unique } from '../support/postgres.ts';
import { rawClient, type RawRequest } from '../support/rawclient.ts';

let local: LocalServer;
let request: RawRequest;
let adminDsn: string;
let adminName: string;

const group = '/apis/postgres.databases.dinhloc.dev/v1alpha1';
const connectingKinds = ['superuser', 'rds-admin'] as const;
type Connecting = (typeof connectingKinds)[number];
const clusterOf = (connecting: Connecting) => (connecting === 'superuser' ? 'main-cluster' : 'admin-cluster');

test.before(async () => {
  local = await startSharedLocal();
  request = rawClient(local.kubeconfig);
  adminDsn = await createAdmin(local.postgresDsn);
  adminName = new URL(adminDsn).username;
  const applied = await local.kubectl(['apply', '-f', '-'], extraCluster('admin-cluster', adminDsn));
  if (applied.code !== 0) throw new Error(applied.stderr);
  // A superuser and a group made by hand, and a group whose privileges the RDS-like admin holds.
  await sql(
    local.postgresDsn,
    'CREATE ROLE hand_made_superuser SUPERUSER NOLOGIN; CREATE ROLE hand_made_replicator REPLICATION NOLOGIN; CREATE ROLE ops_group NOLOGIN',
  );
  await sql(local.postgresDsn, `GRANT ops_group TO ${adminName}`);
  // As a managed service gives its admin the predefined roles to hand out.
  await sql(local.postgresDsn, `GRANT pg_monitor TO ${adminName} WITH ADMIN OPTION`);
  await sql(local.postgresDsn, 'CREATE DATABASE other_team_data');
});
test.after.always(async () => local?.stop());

function role(connecting: Connecting, spec: Record<string, unknown>, namespace = 'default') {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name: unique('attack').replaceAll('_', '-'), namespace },
    spec: { databaseClusterRef: { name: clusterOf(connecting) }, ...spec },
  };
}

function database(connecting: Connecting, spec: Record<string, unknown>, namespace = 'default') {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'Database',
    metadata: { name: unique('attack').replaceAll('_', '-'), namespace },
    spec: { databaseClusterRef: { name: clusterOf(connecting) }, ...spec },
  };
}

async function refused(
  t: { is(a: unknown, b: unknown, m?: string): void; regex(a: string, r: RegExp, m?: string): void },
  object: ReturnType<typeof role>,
  field: RegExp,
  why: RegExp,
) {
  const plural = object.kind === 'Database' ? 'databases' : 'databaseroles';
  const answer = await request(`${group}/namespaces/${object.metadata.namespace}/${plural}`, 'POST', object);
  t.is(answer.status, 403, answer.text);
  const message: string = answer.json().message;
  t.regex(message, field);
  t.regex(message, why);
  t.is(
    (await request(`${group}/namespaces/${object.metadata.namespace}/${plural}/${object.metadata.name}`)).status,
    404,
    'nothing was stored',
  );
}

const roleExists = async (name: string) =>
  (await sql(local.postgresDsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [name] })).length > 0;
const databaseExists = async (name: string) =>
  (await sql(local.postgresDsn, 'SELECT 1 FROM pg_database WHERE datname = $1', { params: [name] })).length > 0;
const isSuperuser = async (name: string) =>
  (await sql<{ s: boolean }>(local.postgresDsn, 'SELECT rolsuper AS s FROM pg_roles WHERE rolname = $1', { params: [name] }))[0]?.s;

for (const connecting of connectingKinds) {
  test(`${connecting}: memberOf postgres (to SET ROLE postgres and COPY ... TO PROGRAM) is refused and no role is made`, async (t) => {
    const roleName = unique('escalate');
    await refused(t, role(connecting, { roleName, memberOf: ['postgres'] }), /spec\.memberOf\[0\]/, /role "postgres" has SUPERUSER/);
    t.false(await roleExists(roleName));
  });

  test(`${connecting}: memberOf a hand-made superuser or a REPLICATION role is refused`, async (t) => {
    await refused(
      t,
      role(connecting, { roleName: unique('escalate'), memberOf: ['hand_made_superuser'] }),
      /spec\.memberOf\[0\]/,
      /has SUPERUSER/,
    );
    await refused(
      t,
      role(connecting, { roleName: unique('escalate'), memberOf: ['hand_made_replicator'] }),
      /spec\.memberOf\[0\]/,
      /has REPLICATION/,
    );
  });

  // Serial: these two change the cluster's grantableRoles.
  test.serial(
    `${connecting}: memberOf pg_execute_server_program is refused even where the DatabaseCluster lists it as grantable`,
    async (t) => {
      const cluster = clusterOf(connecting);
      await patchClusterSpec(local, cluster, { grantableRoles: [{ name: 'pg_execute_server_program' }, { name: 'pg_read_server_files' }] });
      t.teardown(() =>
        local.kubectl(['patch', 'pgcluster', cluster, '--type', 'json', '-p', '[{"op":"remove","path":"/spec/grantableRoles"}]']),
      );
      await refused(
        t,
        role(connecting, { roleName: unique('program'), memberOf: ['pg_execute_server_program'] }),
        /spec\.memberOf\[0\]/,
        /reaches the server's files or programs/,
      );
      await refused(
        t,
        role(connecting, { roleName: unique('files'), memberOf: ['pg_read_server_files'] }),
        /spec\.memberOf\[0\]/,
        /reaches the server's files or programs/,
      );
    },
  );

  test(`${connecting}: a roleName naming an existing superuser (to demote it, or take its password) is refused and it stays a superuser`, async (t) => {
    await refused(t, role(connecting, { roleName: 'hand_made_superuser', login: true }), /spec\.roleName/, /has SUPERUSER/);
    t.true(await isSuperuser('hand_made_superuser'));
    await refused(t, role(connecting, { roleName: 'postgres', reclaimPolicy: 'Delete' }), /spec\.roleName/, /has SUPERUSER/);
    t.true(await isSuperuser('postgres'));
  });

  for (const name of ['postgres', 'template1', 'template0']) {
    test(`${connecting}: a Database claiming "${name}" (to drop it, or to break every CREATE DATABASE) is refused`, async (t) => {
      await refused(
        t,
        database(connecting, { name, reclaimPolicy: 'Delete' }),
        /spec\.name/,
        new RegExp(`database "${name}" belongs to the server`),
      );
      t.true(await databaseExists(name));
    });
  }

  test(`${connecting}: a Database claiming the object store's database (to read every Secret, or drop the store) is refused`, async (t) => {
    await refused(t, database(connecting, { name: 'apiserver', reclaimPolicy: 'Delete' }), /spec\.name/, /holds the object store/);
    t.true(await databaseExists('apiserver'));
  });

  test(`${connecting}: a DatabaseRole granted on the object store's database or on postgres is refused`, async (t) => {
    const roleName = unique('reader');
    await refused(
      t,
      role(connecting, { roleName, permissions: [{ database: 'apiserver', privileges: ['CONNECT'] }] }),
      /spec\.permissions\[0\]\.database/,
      /holds the object store/,
    );
    await refused(
      t,
      role(connecting, { roleName, permissions: [{ database: 'postgres', privileges: ['CONNECT'] }] }),
      /spec\.permissions\[0\]\.database/,
      /belongs to the server/,
    );
    t.false(await roleExists(roleName));
  });

  test(`${connecting}: a Database copying another team's database as its template is refused; template0 is fine`, async (t) => {
    const name = unique('copy');
    await refused(
      t,
      database(connecting, { name, template: 'other_team_data' }),
      /spec\.template/,
      /neither template0, template1 nor managed by a Database in namespace "default"/,
    );
    await refused(t, database(connecting, { name, template: 'apiserver' }), /spec\.template/, /neither template0/);
    t.false(await databaseExists(name));
    const fine = database(connecting, { name, template: 'template0' });
    t.is((await request(`${group}/namespaces/default/databases`, 'POST', fine)).status, 201);
    t.true(await databaseExists(name));
  });

  test(`${connecting}: an untrusted extension (file_fdw reads the server's files) is refused unless the DatabaseCluster allows it`, async (t) => {
    await refused(
      t,
      database(connecting, { name: unique('files'), extensions: ['file_fdw'] }),
      /spec\.extensions\[0\]/,
      /extension "file_fdw" is not trusted/,
    );
    const trusted = database(connecting, { name: unique('crypto'), extensions: ['pgcrypto'] });
    t.is((await request(`${group}/namespaces/default/databases`, 'POST', trusted)).status, 201, 'pgcrypto is trusted');
  });

  test.serial(
    `${connecting}: memberOf a role of another namespace, or pg_monitor, is refused until the DatabaseCluster lists it for that namespace`,
    async (t) => {
      const cluster = clusterOf(connecting);
      const groupName = unique('team_b_group');
      t.is(
        (await request(`${group}/namespaces/team-b/databaseroles`, 'POST', role(connecting, { roleName: groupName }, 'team-b'))).status,
        201,
      );
      await refused(
        t,
        role(connecting, { roleName: unique('joiner'), memberOf: [groupName] }),
        /spec\.memberOf\[0\]/,
        /managed by no DatabaseRole in namespace "default"/,
      );
      await refused(
        t,
        role(connecting, { roleName: unique('monitor'), memberOf: ['pg_monitor'] }),
        /spec\.memberOf\[0\]/,
        /spec\.grantableRoles/,
      );
      const patched = await local.kubectl([
        'patch',
        'pgcluster',
        cluster,
        '--type',
        'merge',
        '-p',
        JSON.stringify({
          spec: {
            grantableRoles: [
              { name: 'pg_monitor', namespaces: ['def*'] },
              { name: groupName, namespaces: ['team-b'] },
            ],
          },
        }),
      ]);
      t.is(patched.code, 0, patched.stderr);
      t.teardown(() =>
        local.kubectl(['patch', 'pgcluster', cluster, '--type', 'json', '-p', '[{"op":"remove","path":"/spec/grantableRoles"}]']),
      );
      await refused(
        t,
        role(connecting, { roleName: unique('joiner'), memberOf: [groupName] }),
        /spec\.memberOf\[0\]/,
        /spec\.grantableRoles/,
      );
      const monitorName = unique('monitor');
      const monitor = role(connecting, { roleName: monitorName, memberOf: ['pg_monitor'] });
      const accepted = await request(`${group}/namespaces/default/databaseroles`, 'POST', monitor);
      t.is(accepted.status, 201, accepted.text);
      t.deepEqual(
        await sql(
          local.postgresDsn,
          "SELECT 1 AS one FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE g.rolname = 'pg_monitor' AND r.rolname = $1",
          { params: [monitorName] },
        ),
        [{ one: 1 }],
      );
    },
  );
}

test('rds-admin: a roleName naming the connecting admin, or a group whose privileges it holds, is refused', async (t) => {
  await refused(t, role('rds-admin', { roleName: adminName }), /spec\.roleName/, /is the DatabaseCluster's connecting user/);
  await refused(
    t,
    role('rds-admin', { roleName: 'ops_group', login: true }),
    /spec\.roleName/,
    /connecting user holds the privileges of role "ops_group"/,
  );
  t.deepEqual(await sql(local.postgresDsn, "SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = 'ops_group'"), [{ login: false }]);
});

test('rds-admin holding every role it creates (createrole_self_grant, PostgreSQL 16+): a role this server made and kept on delete is taken back by its namespace, and no other', async (t) => {
  const selfGranting = await createAdmin(local.postgresDsn);
  await sql(local.postgresDsn, `ALTER ROLE ${new URL(selfGranting).username} SET createrole_self_grant = 'set, inherit'`);
  const applied = await local.kubectl(['apply', '-f', '-'], extraCluster('self-granting', selfGranting));
  t.is(applied.code, 0, applied.stderr);
  const roleName = unique('kept');
  const kept = (namespace: string) => ({
    ...role('rds-admin', { roleName, databaseClusterRef: { name: 'self-granting' } }, namespace),
    metadata: { name: 'kept', namespace },
  });
  t.is((await request(`${group}/namespaces/default/databaseroles`, 'POST', kept('default'))).status, 201);
  const [held] = await sql<{ held: boolean }>(local.postgresDsn, "SELECT pg_has_role($1, $2, 'USAGE') AS held", {
    params: [new URL(selfGranting).username, roleName],
  });
  t.true(held!.held, 'the admin holds the role it created');
  t.is((await request(`${group}/namespaces/default/databaseroles/kept`, 'DELETE')).status, 200);
  t.true(await roleExists(roleName), 'reclaimPolicy Retain keeps the role');
  const otherTeam = await request(`${group}/namespaces/team-b/databaseroles`, 'POST', kept('team-b'));
  t.is(otherTeam.status, 409, otherTeam.text);
  const again = await request(`${group}/namespaces/default/databaseroles`, 'POST', kept('default'));
  t.is(again.status, 201, again.text);
});
