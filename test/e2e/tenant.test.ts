// A tenant as kube-apiserver serves one: the user `tenant`, bound to `edit` in namespace tenant-a only, tries what
// the trust-boundary attacks tried in local mode. RBAC keeps it out of tenant-b; the server refuses, before any SQL,
// whatever in tenant-a would reach beyond it: the server's superuser, template1, a role made by hand.
import test from 'ava';
import { asUser, sql, unique } from '../support/postgres.ts';
import { asAdmin, installServer, mustKubectl, type InstalledServer } from './support/cluster.ts';

let server: InstalledServer;
test.before(async () => {
  server = await installServer();
  const dsn = server.postgres.superuserDsn;
  await mustKubectl(['create', 'secret', 'generic', 'tenant-connection', '-n', 'default', `--from-literal=connection=${dsn}`]);
  for (const ns of ['tenant-a', 'tenant-b']) await mustKubectl(['create', 'namespace', ns]);
  await mustKubectl(['create', 'rolebinding', 'tenant-edit', '--clusterrole=edit', '--user=tenant', '-n', 'tenant-a']);
  await mustKubectl(
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: tenant-shared}
spec: {connection: {name: tenant-connection, namespace: default}}
`,
  );
  await sql(dsn, "CREATE ROLE made_by_hand LOGIN PASSWORD 'theirs'");
});
test.after.always(async () => server?.stop());

const asTenant = (args: string[], input?: string) => asAdmin(args, input, 'tenant');

function role(namespace: string, name: string, spec: string): string {
  return `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${name}, namespace: ${namespace}}
spec: {databaseClusterRef: {name: tenant-shared}, ${spec}}
`;
}

const roleExists = async (name: string) =>
  (await sql(server.postgres.superuserDsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [name] })).length === 1;

test('the tenant manages a Database and a DatabaseRole in its own namespace', async (t) => {
  const roleName = unique('tenant_a_app');
  const applied = await asTenant(
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: orders, namespace: tenant-a}
spec: {name: ${unique('tenant_a_orders')}, databaseClusterRef: {name: tenant-shared}}
---
${role('tenant-a', 'app', `roleName: ${roleName}`)}`,
  );
  t.is(applied.code, 0, applied.stderr);
  t.true(await roleExists(roleName));
});

test('RBAC keeps the tenant out of another namespace', async (t) => {
  const refused = await asTenant(['apply', '-f', '-'], role('tenant-b', 'intruder', `roleName: ${unique('intruder')}`));
  t.not(refused.code, 0);
  t.regex(refused.stderr, /forbidden: User "tenant" cannot/);
});

test('memberOf postgres, through kube-apiserver: 403 naming spec.memberOf[0], and no role is made', async (t) => {
  const roleName = unique('escalate');
  const refused = await asTenant(['apply', '-f', '-'], role('tenant-a', 'escalate', `roleName: ${roleName}, memberOf: [postgres]`));
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Error from server \(Forbidden\).*spec\.memberOf\[0\]: Forbidden: role "postgres" has SUPERUSER/);
  t.false(await roleExists(roleName));
});

test('a Database claiming template1 (to break every CREATE DATABASE), through kube-apiserver: 403', async (t) => {
  const refused = await asTenant(
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: template, namespace: tenant-a}
spec: {name: template1, databaseClusterRef: {name: tenant-shared}, reclaimPolicy: Delete}
`,
  );
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Error from server \(Forbidden\).*spec\.name: Forbidden: database "template1" belongs to the server/);
});

test('a role made by hand, through kube-apiserver: 409 AlreadyExists, and its password stays', async (t) => {
  const refused = await asTenant(['apply', '-f', '-'], role('tenant-a', 'takeover', 'roleName: made_by_hand, reclaimPolicy: Delete'));
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Error from server \(AlreadyExists\).*role "made_by_hand" exists and no object manages it/);
  await t.notThrowsAsync(sql(asUser(server.postgres.superuserDsn, 'made_by_hand', 'theirs'), 'SELECT 1'));
});
