// The API's own validation, as kube-apiserver does it, tried the way an attacker probing one namespace would:
// odd names, odd Secret keys, another object's uid, and query values that mean nothing. Each is refused before
// anything is stored or run.
import test from 'ava';
import { startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { rawClient, type RawRequest } from '../support/rawclient.ts';
import { sql } from '../support/postgres.ts';

let local: LocalServer;
let request: RawRequest;
test.before(async () => {
  local = await startLocalWithGuide();
  request = rawClient(local.kubeconfig);
});
test.after.always(async () => local?.stop());

const group = '/apis/postgres.databases.dinhloc.dev/v1alpha1';
const roles = `${group}/namespaces/default/databaseroles`;
const role = (name: string, roleName: string) => ({
  apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
  kind: 'DatabaseRole',
  metadata: { name, namespace: 'default' },
  spec: { roleName, databaseClusterRef: { name: 'main-cluster' } },
});

const badNames: [string, string][] = [
  ['a path that climbs out of the collection', '../../x'],
  ['upper case', 'BadName'],
  ['300 characters', 'a'.repeat(300)],
  ['a slash', 'a/b'],
];
for (const [what, name] of badNames) {
  test(`metadata.name with ${what} is refused with 422 and no role is created`, async (t) => {
    const roleName = `named_${badNames.findIndex(([w]) => w === what)}`;
    const answer = await request(roles, 'POST', role(name, roleName));
    t.is(answer.status, 422, answer.text);
    t.like(answer.json(), { reason: 'Invalid', details: { causes: [{ field: 'metadata.name' }] } });
    t.deepEqual(await sql(local.postgresDsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [roleName] }), []);
  });
}

test('a Secret data key that is not a config key (a path, "..", 300 characters) is refused with 422', async (t) => {
  for (const key of ['../etc', '..', 'a/b', 'k'.repeat(300)]) {
    const answer = await request('/api/v1/namespaces/default/secrets', 'POST', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'odd-keys' },
      stringData: { [key]: 'x' },
    });
    t.is(answer.status, 422, `${key}: ${answer.text}`);
  }
});

test("a write carrying another object's uid is a 409 Conflict, as kube-apiserver answers, and changes nothing", async (t) => {
  // A merge patch: no resourceVersion that a status persisted meanwhile could make stale first.
  const answer = await request(
    `${roles}/app-user`,
    'PATCH',
    { metadata: { uid: '00000000-0000-0000-0000-000000000000', labels: { changed: 'yes' } } },
    'application/merge-patch+json',
  );
  t.is(answer.status, 409, answer.text);
  t.regex(answer.json().message, /Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: /);
  t.is((await request(`${roles}/app-user`)).json().metadata.labels?.changed, undefined);
});

test('a delete whose preconditions name another uid is a 409, and the object stays', async (t) => {
  const answer = await request(`${roles}/app-user`, 'DELETE', {
    kind: 'DeleteOptions',
    apiVersion: 'v1',
    preconditions: { uid: 'not-its-uid' },
  });
  t.is(answer.status, 409, answer.text);
  t.is((await request(`${roles}/app-user`)).status, 200);
});

test('propagationPolicy=Bogus is refused with 422 naming the field, and the object stays', async (t) => {
  for (const answer of [
    await request(`${roles}/app-user?propagationPolicy=Bogus`, 'DELETE'),
    await request(`${roles}/app-user`, 'DELETE', { propagationPolicy: 'Bogus' }),
  ]) {
    t.is(answer.status, 422, answer.text);
    t.like(answer.json(), { reason: 'Invalid', details: { causes: [{ field: 'propagationPolicy' }] } });
  }
  t.is((await request(`${roles}/app-user`)).status, 200);
});

const garbage: [string, string][] = [
  ['watch=yes', 'watch'],
  ['watch=maybe', 'watch'],
  ['watch=true&timeoutSeconds=abc', 'timeoutSeconds'],
  ['watch=true&timeoutSeconds=-1', 'timeoutSeconds'],
  ['limit=1e99', 'limit'],
  ['limit=-5', 'limit'],
];
for (const [query, parameter] of garbage) {
  test(`?${query} is a 400 naming ${parameter}, never a list or a watch`, async (t) => {
    const answer = await request(`${roles}?${query}`);
    t.is(answer.status, 400, answer.text);
    t.regex(answer.json().message, new RegExp(`invalid value for ${parameter}`));
  });
}

test('?watch=False is served as the list it is authorized as, not as a watch stream', async (t) => {
  const answer = await request(`${roles}?watch=False`);
  t.is(answer.status, 200);
  t.is(answer.json().kind, 'DatabaseRoleList');
});

test('a huge timeoutSeconds keeps the watch open instead of ending it at once (no timer overflow)', async (t) => {
  const { request: raw } = await import('node:https');
  const { readFileSync } = await import('node:fs');
  const { parse } = await import('yaml');
  const config = parse(readFileSync(local.kubeconfig, 'utf8'));
  const url = new URL(`${config.clusters[0].cluster.server}${roles}?watch=true&timeoutSeconds=99999999999`);
  const lines: string[] = [];
  let ended = false;
  await new Promise<void>((resolve, reject) => {
    const req = raw(
      url,
      {
        ca: Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64'),
        headers: { Authorization: `Bearer ${config.users[0].user.token}` },
      },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          lines.push(...chunk.split('\n').filter(Boolean));
          if (lines.length > 0) resolve();
        });
        res.on('end', () => {
          ended = true;
          resolve();
        });
      },
    );
    req.on('error', reject);
    req.end();
    t.teardown(() => req.destroy());
  });
  t.false(ended, 'the watch ended at once');
  t.regex(lines[0] ?? '', /"type":"ADDED"/);
});

test('a field selector with an escaped comma reads as one name, the same for authorization and serving', async (t) => {
  const answer = await request(`${roles}?fieldSelector=${encodeURIComponent('metadata.name=app-user\\,x')}`);
  t.is(answer.status, 200, answer.text);
  t.deepEqual(answer.json().items, [], 'the name is "app-user,x", which no role has');
  const plain = await request(`${roles}?fieldSelector=${encodeURIComponent('metadata.name=app-user')}`);
  t.is(plain.json().items.length, 1);
});
