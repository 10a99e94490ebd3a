// Tenancy through kube-apiserver: a DatabaseRole may not reach another namespace's database, and a namespace
// that DatabaseCluster.spec.allowedNamespaces does not select cannot use the cluster. Each refusal names the
// field and changes nothing in PostgreSQL.
import test from 'ava';
import { sql } from '../support/postgres.ts';
import { asAdmin, installServer, mustKubectl, type InstalledServer } from './support/cluster.ts';
import { eventually } from '../support/local.ts';

let server: InstalledServer;
test.before(async () => {
  server = await installServer();
  const dsn = server.postgres.superuserDsn;
  await mustKubectl(['create', 'secret', 'generic', 'tenancy-connection', '-n', 'default', `--from-literal=connection=${dsn}`]);
  for (const ns of ['team-a', 'team-b', 'team-c']) await mustKubectl(['create', 'namespace', ns]);
  await mustKubectl(['label', 'namespace', 'team-a', 'team-b', 'tenancy=allowed']);
  await mustKubectl(
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: shared}
spec:
  connection: {name: tenancy-connection, namespace: default}
  allowedNamespaces: {from: Selector, selector: {matchLabels: {tenancy: allowed}}}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: orders, namespace: team-a}
spec: {name: team_a_orders, schema: public, databaseClusterRef: {name: shared}}
`,
  );
});
test.after.always(async () => server?.stop());

function role(namespace: string, roleName: string, database: string): string {
  return `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: reader, namespace: ${namespace}}
spec:
  roleName: ${roleName}
  databaseClusterRef: {name: shared}
  permissions: [{database: ${database}, privileges: [CONNECT]}]
`;
}

const roleExists = async (name: string) =>
  (await sql(server.postgres.superuserDsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [name] })).length === 1;

test.serial("a DatabaseRole in team-b asking for team-a's database is refused and no role is made", async (t) => {
  const refused = await asAdmin(['apply', '-f', '-'], role('team-b', 'team_b_snoop', 'team_a_orders'));
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Forbidden|forbidden/);
  t.regex(refused.stderr, /spec\.permissions\[0\]\.database/);
  t.false(await roleExists('team_b_snoop'));
  t.is((await asAdmin(['get', 'pgrole', 'reader', '-n', 'team-b'])).code, 1);
});

test.serial('the same DatabaseRole in team-a is accepted and reaches PostgreSQL', async (t) => {
  const accepted = await asAdmin(['apply', '-f', '-'], role('team-a', 'team_a_reader', 'team_a_orders'));
  t.is(accepted.code, 0, accepted.stderr);
  t.true(await roleExists('team_a_reader'));
});

test.serial('a namespace outside allowedNamespaces cannot use the cluster', async (t) => {
  const refused = await asAdmin(
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: sneaky, namespace: team-c}
spec: {name: team_c_db, schema: public, databaseClusterRef: {name: shared}}
`,
  );
  t.not(refused.code, 0);
  t.regex(refused.stderr, /namespace "team-c" may not use DatabaseCluster "shared" \(spec\.allowedNamespaces\)/);
  t.is((await sql(server.postgres.superuserDsn, `SELECT 1 FROM pg_database WHERE datname = 'team_c_db'`)).length, 0);
  const roleRefused = await asAdmin(['apply', '-f', '-'], role('team-c', 'team_c_reader', 'team_a_orders'));
  t.not(roleRefused.code, 0);
  t.false(await roleExists('team_c_reader'));
});

/** A DatabaseRole with no privileges: only the cluster's allowedNamespaces can refuse it. */
function plainRole(namespace: string, name: string, roleName: string): string {
  return `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${name}, namespace: ${namespace}}
spec: {roleName: ${roleName}, databaseClusterRef: {name: shared}}
`;
}

test.serial('a namespace created a moment ago can use the cluster at once (the write reads the cluster, not only memory)', async (t) => {
  await mustKubectl(['create', 'namespace', 'team-d']);
  await mustKubectl(['label', 'namespace', 'team-d', 'tenancy=allowed']);
  const accepted = await asAdmin(['apply', '-f', '-'], plainRole('team-d', 'fresh', 'team_d_fresh'));
  t.is(accepted.code, 0, accepted.stderr);
  t.true(await roleExists('team_d_fresh'));
});

test.serial('a namespace whose allowedNamespaces label is taken away loses the cluster: its next objects are refused', async (t) => {
  await mustKubectl(['label', 'namespace', 'team-d', 'tenancy-']);
  let attempt = 0;
  let last = '';
  const refused = await eventually(async () => {
    const answer = await asAdmin(['apply', '-f', '-'], plainRole('team-d', `late-${++attempt}`, `team_d_late_${attempt}`));
    last = answer.stderr;
    return answer.code !== 0;
  }, 30_000);
  t.true(refused, `still accepted after the label was removed: ${last}`);
  t.regex(last, /namespace "team-d" may not use DatabaseCluster "shared" \(spec\.allowedNamespaces\)/);
  t.false(await roleExists(`team_d_late_${attempt}`));
});

test.serial('a namespace labelled into allowedNamespaces may use the cluster once the label is there', async (t) => {
  await mustKubectl(['label', 'namespace', 'team-c', 'tenancy=allowed']);
  let last = '';
  const accepted = await eventually(async () => {
    const answer = await asAdmin(['apply', '-f', '-'], plainRole('team-c', 'joined', 'team_c_joined'));
    last = answer.stderr;
    return answer.code === 0;
  }, 30_000);
  t.true(accepted, last);
  t.true(await roleExists('team_c_joined'));
  await mustKubectl(['label', 'namespace', 'team-c', 'tenancy-']);
});

test.serial(
  "a cluster's DSN Secret changed with kubectl is what the next writes use (a kept DSN is forgotten on the change)",
  async (t) => {
    const dsnSecret = (dsn: string) =>
      mustKubectl([
        'create',
        'secret',
        'generic',
        'tenancy-connection',
        '-n',
        'default',
        `--from-literal=connection=${dsn}`,
        '--dry-run=client',
        '-o',
        'yaml',
      ]).then((yaml) => mustKubectl(['apply', '-f', '-'], yaml));
    const first = await asAdmin(['apply', '-f', '-'], plainRole('team-a', 'before-move', 'team_a_before_move'));
    t.is(first.code, 0, first.stderr);
    t.true(await roleExists('team_a_before_move'));
    await dsnSecret('not a dsn');
    let attempt = 0;
    let last = '';
    const seen = await eventually(async () => {
      const answer = await asAdmin(['apply', '-f', '-'], plainRole('team-a', `moving-${++attempt}`, `team_a_moving_${attempt}`));
      last = answer.stderr;
      return /is not a postgres:\/\/ URL/.test(answer.stderr);
    }, 30_000);
    t.true(seen, `the old DSN is still used: ${last}`);
    t.false(await roleExists(`team_a_moving_${attempt}`));
    await dsnSecret(server.postgres.superuserDsn);
    const back = await eventually(async () => {
      const answer = await asAdmin(['apply', '-f', '-'], plainRole('team-a', 'after-move', 'team_a_after_move'));
      last = answer.stderr;
      return answer.code === 0 && !/Warning/.test(answer.stderr) && (await roleExists('team_a_after_move'));
    }, 30_000);
    t.true(back, last);
  },
);
