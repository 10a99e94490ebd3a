// Who may do what, through kube-apiserver and straight to the server's port: a user with no bindings is
// Forbidden, a user bound to `view` reads but cannot write (the chart's ClusterRoles aggregate into view),
// kubectl auth can-i agrees, and nothing unauthenticated gets in — no credentials, an unknown token, or a
// front-proxy certificate signed by another CA.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { asAdmin, controlPlane, direct, installServer, mustKubectl, namespace, type InstalledServer } from './support/cluster.ts';

let server: InstalledServer;
test.before(async () => {
  server = await installServer();
  await asAdmin(['create', 'clusterrolebinding', 'viewer-view', '--clusterrole=view', '--user=viewer']);
});
test.after.always(async () => server?.stop());

const role = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: someone, namespace: default}
spec: {roleName: someone, databaseClusterRef: {name: main-cluster}}
`;
const collection = '/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles';

test('a user with no bindings is Forbidden to get, list, watch and create', async (t) => {
  for (const args of [
    ['get', 'pgrole', 'x'],
    ['get', 'pgrole'],
    ['get', 'pgrole', '--watch', '--request-timeout=5s'],
    ['create', '-f', '-'],
  ]) {
    const result = await asAdmin(args, args[0] === 'create' ? role : undefined, 'alice');
    t.not(result.code, 0, args.join(' '));
    t.regex(result.stderr, /Forbidden|forbidden/, args.join(' '));
  }
});

test('a user bound to view lists but cannot create', async (t) => {
  const listed = await asAdmin(['get', 'pgrole', '-A'], undefined, 'viewer');
  t.is(listed.code, 0, listed.stderr);
  const created = await asAdmin(['create', '-f', '-'], role, 'viewer');
  t.not(created.code, 0);
  t.regex(created.stderr, /forbidden/i);
});

test('kubectl auth can-i agrees', async (t) => {
  const canI = async (user: string, verb: string) =>
    (
      await asAdmin(['auth', 'can-i', verb, 'databaseroles.postgres.databases.dinhloc.dev', '-n', 'default'], undefined, user)
    ).stdout.trim();
  t.is(await canI('alice', 'list'), 'no');
  t.is(await canI('viewer', 'list'), 'yes');
  t.is(await canI('viewer', 'create'), 'no');
  t.is(await canI('e2e', 'create'), 'yes');
});

test("straight to the server: the aggregator's front-proxy certificate carries the user, and the server asks RBAC itself", async (t) => {
  const { dir } = controlPlane();
  const proxy = {
    cert: readFileSync(join(dir, 'front-proxy-client.crt'), 'utf8'),
    key: readFileSync(join(dir, 'front-proxy-client.key'), 'utf8'),
  };
  const as = (user: string, method = 'GET', body?: string) =>
    direct(server, collection, {
      ...proxy,
      method,
      ...(body
        ? {
            body,
            headers: [
              ['X-Remote-User', user],
              ['X-Remote-Group', 'system:authenticated'],
              ['Content-Type', 'application/yaml'],
            ],
          }
        : { headers: [['X-Remote-User', user]] }),
    });
  const alice = await as('alice');
  t.is(alice.status, 403);
  t.regex(
    alice.json().message!,
    /User "alice" cannot list resource "databaseroles" in API group "postgres.databases.dinhloc.dev" in the namespace "default"/,
  );
  t.is((await as('viewer')).status, 200);
  t.is((await as('viewer', 'POST', role)).status, 403);
});

test('straight to the server: no credentials, an unknown token, or a front-proxy certificate from another CA is 401', async (t) => {
  t.is((await direct(server, collection)).status, 401);
  t.is((await direct(server, collection, { headers: [['Authorization', 'Bearer not-a-real-token']] })).status, 401);
  const other = mkdtempSync(join(tmpdir(), 'other-ca-'));
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: other, stdio: 'pipe' });
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=other-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  ]);
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=front-proxy-client', '-keyout', 'proxy.key', '-out', 'proxy.csr']);
  openssl(['x509', '-req', '-in', 'proxy.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'proxy.crt']);
  const forged = await direct(server, collection, {
    cert: readFileSync(join(other, 'proxy.crt'), 'utf8'),
    key: readFileSync(join(other, 'proxy.key'), 'utf8'),
    headers: [
      ['X-Remote-User', 'admin'],
      ['X-Remote-Group', 'system:masters'],
    ],
  });
  t.is(forged.status, 401);
});

test("the server's ServiceAccount cannot take another component's leader Lease (kube-system's), only write its own namespace's", async (t) => {
  const can = async (verb: string, inNamespace: string) =>
    (
      await asAdmin([
        'auth',
        'can-i',
        verb,
        'leases.coordination.k8s.io',
        '-n',
        inNamespace,
        `--as=system:serviceaccount:${namespace}:postgres-apiserver`,
      ])
    ).stdout.trim();
  for (const verb of ['get', 'create', 'update']) {
    t.is(await can(verb, 'kube-system'), 'no', `${verb} in kube-system`);
    t.is(await can(verb, 'default'), 'no', `${verb} in default`);
    t.is(await can(verb, namespace), 'yes', `${verb} in ${namespace}`);
  }
});

test('straight to the server: a ServiceAccount token is checked by TokenReview, then by RBAC', async (t) => {
  await mustKubectl(['create', 'serviceaccount', 'nobody-special', '-n', namespace]);
  const token = (await mustKubectl(['create', 'token', 'nobody-special', '-n', namespace])).trim();
  const denied = await direct(server, collection, { headers: [['Authorization', `Bearer ${token}`]] });
  t.is(denied.status, 403);
  t.regex(denied.json().message!, /system:serviceaccount:postgres-apiserver:nobody-special/);
});
