// The core kinds local mode serves: Secrets as kubectl creates and applies them, Namespaces, Events selected
// the way kubectl describe selects them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { bearerTokenAuthentication } from '../../apiserver/authentication.ts';
import { discoveryRouter } from '../../apiserver/discovery.ts';
import { writeKubeconfig } from '../../apiserver/kubeconfig.ts';
import { coreKinds } from '../../reconcile/kinds/core.ts';
import { resourceRouter } from '../../apiserver/rest.ts';
import { ObjectStore } from '../../storage/objects/store.ts';
import { serveKinds } from '../support/apiserver.ts';
import { serveApp } from '../support/http.ts';
import { kubectl } from '../support/kubectl.ts';
import { startTestServer, unique, type TestServer } from '../support/postgres.ts';
import { coreDiscovery } from '../../apiserver/groups.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer('pg17');
});
test.after.always(async () => server?.stop());

const secrets = '/api/v1/namespaces/default/secrets';
const secret = (name: string, fields: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, ...fields });

test('stringData is merged into data as base64 and never stored or returned', async (t) => {
  const { call } = await serveKinds(t, server.superuserDsn, coreKinds);
  const created = await call(
    'POST',
    secrets,
    secret('app-user-password', { stringData: { password: 'strong-password-here' }, data: { other: Buffer.from('x').toString('base64') } }),
  );
  t.is(created.status, 201);
  const body = created.json();
  t.deepEqual(body.data, { other: 'eA==', password: Buffer.from('strong-password-here').toString('base64') });
  t.is(body.type, 'Opaque');
  t.false('stringData' in body);
  t.false('stringData' in (await call('GET', `${secrets}/app-user-password`)).json());
});

test('a Secret whose data is not base64, or whose key is not a config key, is 422 naming the key', async (t) => {
  const { call } = await serveKinds(t, server.superuserDsn, coreKinds);
  const res = await call('POST', secrets, secret('bad', { data: { password: 'not base64!', 'bad key': 'eA==' } }));
  t.is(res.status, 422);
  t.deepEqual(
    res.json().details.causes.map((c: { field: string }) => c.field),
    ['data[password]', 'data[bad key]'],
  );
});

test("kubectl apply's strategic merge patch works on a Secret, as a merge patch", async (t) => {
  const { call } = await serveKinds(t, server.superuserDsn, coreKinds);
  await call('POST', secrets, secret('s', { stringData: { a: '1' } }));
  const patch = { $setElementOrder: {}, stringData: { b: '2' }, metadata: { annotations: { note: 'x' } } };
  const res = await call('PATCH', `${secrets}/s`, patch, { headers: { 'content-type': 'application/strategic-merge-patch+json' } });
  t.is(res.status, 200, res.text);
  t.deepEqual(res.json().data, { a: 'MQ==', b: 'Mg==' });
  t.is(res.json().metadata.annotations.note, 'x');
});

test('names must be RFC 1123: a namespace is a label, a Secret a subdomain', async (t) => {
  const { call } = await serveKinds(t, server.superuserDsn, coreKinds);
  t.is((await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team.a' } })).status, 422);
  t.is((await call('POST', secrets, secret('Upper', {}))).status, 422);
  const ns = await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
  t.is(ns.status, 201);
  t.deepEqual(ns.json().status, { phase: 'Active' });
});

test('Events are selected by involvedObject fields, as kubectl describe asks', async (t) => {
  const { call } = await serveKinds(t, server.superuserDsn, coreKinds);
  const event = (name: string, involved: string) => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name },
    type: 'Normal',
    reason: 'Applied',
    message: 'done',
    involvedObject: {
      kind: 'DatabaseRole',
      namespace: 'default',
      name: involved,
      uid: `uid-${involved}`,
      apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    },
  });
  await call('POST', '/api/v1/namespaces/default/events', event('e1', 'app-user'));
  await call('POST', '/api/v1/namespaces/default/events', event('e2', 'other'));
  const selector = encodeURIComponent(
    'involvedObject.kind=DatabaseRole,involvedObject.name=app-user,involvedObject.namespace=default,involvedObject.uid=uid-app-user',
  );
  const res = await call('GET', `/api/v1/namespaces/default/events?fieldSelector=${selector}`);
  t.deepEqual(
    res.json().items.map((e: { metadata: { name: string } }) => e.metadata.name),
    ['e1'],
  );
  t.is((await call('GET', '/api/v1/namespaces/default/events?fieldSelector=spec.x%3Dy')).status, 400);
});

test('kubectl create secret and create namespace work: their protobuf bodies are read', async (t) => {
  const store = await ObjectStore.open(server.superuserDsn, { schema: unique('proto') });
  const app = await serveApp({
    routers: [discoveryRouter([coreDiscovery]), ...coreKinds.map((k) => resourceRouter(k, store))],
    authenticate: bearerTokenAuthentication('tok', { name: 'a', groups: [] }),
  });
  const dir = mkdtempSync(join(tmpdir(), 'proto-'));
  try {
    const config = join(dir, 'kubeconfig');
    writeKubeconfig(config, { server: app.base, ca: app.tls.ca, token: 'tok' });
    const run = (args: string[]) => kubectl(config, args, undefined, { KUBECACHEDIR: join(dir, 'cache') });
    const created = await run([
      'create',
      'secret',
      'generic',
      'creds',
      '-n',
      'default',
      '--from-literal=password=p4ss word',
      '--from-literal=user=app',
    ]);
    t.is(created.code, 0, created.stderr);
    const secret = JSON.parse((await run(['get', 'secret', 'creds', '-n', 'default', '-o', 'json'])).stdout);
    t.deepEqual(secret.data, { password: Buffer.from('p4ss word').toString('base64'), user: 'YXBw' });
    t.is(secret.type, 'Opaque');
    t.false('generateName' in secret.metadata);
    t.is((await run(['create', 'namespace', 'team-a'])).code, 0);
    t.is(JSON.parse((await run(['get', 'namespace', 'team-a', '-o', 'json'])).stdout).status.phase, 'Active');
  } finally {
    rmSync(dir, { recursive: true });
    await app.close();
    await store.close();
  }
});
