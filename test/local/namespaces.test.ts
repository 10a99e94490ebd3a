// Deleting a Namespace in local mode deletes what is in it first, as a cluster's namespace controller does:
// a DatabaseRole with reclaimPolicy Delete drops its role; a drop that cannot run keeps the Namespace
// Terminating until it is deleted again once it can.
import test from 'ava';
import { eventually, startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { sql } from '../support/postgres.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
});
test.after.always(async () => local?.stop());

const roleExists = async (name: string) =>
  (await sql(local.postgresDsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [name] })).length === 1;
const exists = async (...args: string[]) => (await local.kubectl(['get', ...args])).code === 0;

function team(namespace: string, cluster: string, roleName: string): string {
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${namespace}}
---
apiVersion: v1
kind: Secret
metadata: {name: notes, namespace: ${namespace}}
stringData: {note: hello}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: temporary, namespace: ${namespace}}
spec: {roleName: ${roleName}, databaseClusterRef: {name: ${cluster}}, reclaimPolicy: Delete}
`;
}

test.serial('kubectl delete namespace removes its objects, and reclaimPolicy Delete drops their roles', async (t) => {
  t.is((await local.kubectl(['apply', '-f', '-'], team('short-lived', 'main-cluster', 'short_lived_role'))).code, 0);
  t.true(await roleExists('short_lived_role'));
  const deleted = await local.kubectl(['delete', 'namespace', 'short-lived']);
  t.is(deleted.code, 0, deleted.stderr);
  t.false(await exists('namespace', 'short-lived'));
  t.false(await exists('secret', 'notes', '-n', 'short-lived'));
  t.false(await exists('pgrole', 'temporary', '-n', 'short-lived'));
  t.false(await roleExists('short_lived_role'));
});

test.serial('a drop that cannot run keeps the namespace Terminating; deleted again once it can, it goes', async (t) => {
  t.is(
    (await local.kubectl(['create', 'secret', 'generic', 'flaky-connection', `--from-literal=connection=${local.postgresDsn}`])).code,
    0,
  );
  t.is(
    (
      await local.kubectl(
        ['apply', '-f', '-'],
        'apiVersion: postgres.databases.dinhloc.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: {name: flaky}\nspec: {connection: {name: flaky-connection, namespace: default}}\n',
      )
    ).code,
    0,
  );
  t.is((await local.kubectl(['apply', '-f', '-'], team('stuck', 'flaky', 'stuck_role'))).code, 0);
  t.true(await roleExists('stuck_role'));
  t.is((await local.kubectl(['delete', 'secret', 'flaky-connection'])).code, 0);
  const first = await local.kubectl(['delete', 'namespace', 'stuck', '--wait=false']);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stderr, /namespace "stuck" still holds 1 object\(s\) being deleted/);
  t.regex((await local.kubectl(['get', 'namespace', 'stuck'])).stdout, /stuck\s+Terminating/);
  t.false(await exists('secret', 'notes', '-n', 'stuck'), 'what could go went');
  t.true(await roleExists('stuck_role'), 'nothing dropped without its connection');
  t.is(
    (await local.kubectl(['create', 'secret', 'generic', 'flaky-connection', `--from-literal=connection=${local.postgresDsn}`])).code,
    0,
  );
  t.true(
    await eventually(async () => !(await roleExists('stuck_role')), 20_000),
    'the reconciler finishes the role once the cluster can be reached',
  );
  t.is((await local.kubectl(['delete', 'namespace', 'stuck'])).code, 0);
  t.false(await exists('namespace', 'stuck'));
});
