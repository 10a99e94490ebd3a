// Dependents are protected: a DatabaseCluster that Databases or DatabaseRoles still use stays Terminating
// when deleted, its status naming what is left, and goes once they are gone; no new object may use it meanwhile.
import test from 'ava';
import { eventually, extraCluster, startLocalWithGuide, type LocalServer } from '../support/local.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
});
test.after.always(async () => local?.stop());

async function cluster(): Promise<
  | {
      metadata: { deletionTimestamp?: string; finalizers?: string[] };
      status?: { conditions?: { type: string; reason: string; message: string }[] };
    }
  | undefined
> {
  const got = await local.kubectl(['get', 'pgcluster', 'main-cluster', '-o', 'json']);
  return got.code === 0 ? JSON.parse(got.stdout) : undefined;
}

test('deleting a DatabaseCluster in use leaves it Terminating, naming its dependents, until they are deleted; then it goes', async (t) => {
  const deleted = await local.kubectl(['delete', 'pgcluster', 'main-cluster', '--wait=false']);
  t.is(deleted.code, 0, deleted.stderr);
  t.regex(
    deleted.stderr,
    /Warning: DatabaseCluster "main-cluster" is still used by Database default\/my-app-db, DatabaseRole default\/app-user/,
  );
  const terminating = await cluster();
  t.truthy(terminating?.metadata.deletionTimestamp);
  t.deepEqual(terminating?.metadata.finalizers, ['postgres.databases.dinhloc.dev/dependents']);
  t.like(
    terminating?.status?.conditions?.find((c) => c.type === 'Terminating'),
    { reason: 'DependentsRemain', message: 'deleted once no object uses it: Database default/my-app-db, DatabaseRole default/app-user' },
  );

  const newcomer = await local.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: latecomer, namespace: default}
spec: {roleName: latecomer, databaseClusterRef: {name: main-cluster}}
`,
  );
  t.not(newcomer.code, 0);
  t.regex(newcomer.stderr, /DatabaseCluster "main-cluster" is being deleted: no new object may use it/);

  t.is((await local.kubectl(['delete', 'pgrole', 'app-user'])).code, 0);
  t.is((await local.kubectl(['delete', 'pgdb', 'my-app-db'])).code, 0);
  t.true(await eventually(async () => (await cluster()) === undefined, 60_000), 'gone once nothing uses it');
});

test('deleting a role others are memberOf warns and names them; their status shows the membership missing', async (t) => {
  const applied = await local.kubectl(
    ['apply', '-f', '-'],
    `${extraCluster('other', local.postgresDsn)}---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: readers, namespace: default}
spec: {roleName: readers_group, databaseClusterRef: {name: other}, reclaimPolicy: Delete}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: member, namespace: default}
spec: {roleName: member_of_readers, databaseClusterRef: {name: other}, memberOf: [readers_group]}
`,
  );
  t.is(applied.code, 0, applied.stderr);
  const deleted = await local.kubectl(['delete', 'pgrole', 'readers']);
  t.is(deleted.code, 0, deleted.stderr);
  t.regex(
    deleted.stderr,
    /Warning: role "readers_group" is in the memberOf of DatabaseRole\(s\) default\/member: their membership stays pending/,
  );
  const member = JSON.parse((await local.kubectl(['get', 'pgrole', 'member', '-o', 'json'])).stdout);
  t.like(
    member.status.conditions.find((c: { type: string }) => c.type === 'InSync'),
    { status: 'False' },
  );
  t.like(member.status.drift, [{ kind: 'membership', object: 'readers_group', expected: 'member', actual: 'not a member' }]);
});
