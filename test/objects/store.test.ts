// The object store against a real PostgreSQL server: writes and their errors, lists and paging, the change
// log and its compaction, restarts.
import test from 'ava';
import pg from 'pg';
import { AlreadyExists, BadRequest, Conflict, Expired, NotFound, ObjectStore } from '../../storage/objects/store.ts';
import { asUser, sql, unique } from '../support/postgres.ts';
import { clusters, increasing, keys, role, roles, secrets, storeSuite } from './support.ts';
import type { KubeObject } from '../../openapi/objects.ts';

const suite = storeSuite(test);

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const rfc3339Seconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

test('create, get, update and delete round trip, each with a larger resourceVersion', async (t) => {
  const { store } = await suite.open(t);
  const created = await store.create(roles, role('app-user'));
  t.regex(created.metadata.uid!, uuid);
  t.regex(created.metadata.creationTimestamp!, rfc3339Seconds);
  t.is(created.metadata.generation, 1);
  t.deepEqual(await store.get(roles, 'team-a', 'app-user'), created);
  t.deepEqual(
    Object.keys(await store.get(roles, 'team-a', 'app-user')),
    ['apiVersion', 'kind', 'metadata', 'spec'],
    'the key order is kept',
  );

  const changed = { ...created, spec: { roleName: 'app_user', connectionLimit: 5 }, metadata: { ...created.metadata, generation: 2 } };
  const updated = await store.update(roles, changed, { expectedResourceVersion: created.metadata.resourceVersion! });
  t.true(BigInt(updated.metadata.resourceVersion!) > BigInt(created.metadata.resourceVersion!));
  t.like(updated.metadata, { uid: created.metadata.uid, creationTimestamp: created.metadata.creationTimestamp, generation: 2 });
  t.deepEqual(await store.get(roles, 'team-a', 'app-user'), updated);

  const deleted = await store.delete(roles, 'team-a', 'app-user', { expectedResourceVersion: updated.metadata.resourceVersion! });
  t.true(BigInt(deleted.metadata.resourceVersion!) > BigInt(updated.metadata.resourceVersion!));
  t.deepEqual(
    { ...deleted, metadata: { ...deleted.metadata, resourceVersion: updated.metadata.resourceVersion } },
    updated,
    'the last state',
  );
  await t.throwsAsync(store.get(roles, 'team-a', 'app-user'), { instanceOf: NotFound });
  t.is(await store.currentResourceVersion(), deleted.metadata.resourceVersion!);
});

test('the store owns creationTimestamp and resourceVersion, and uid once created; the caller owns generation and may name the uid', async (t) => {
  const { store } = await suite.open(t);
  const given = role('app');
  const namedUid = '11111111-2222-4333-8444-555555555555';
  given.metadata = {
    ...given.metadata,
    uid: namedUid,
    resourceVersion: '999999',
    creationTimestamp: '2000-01-01T00:00:00Z',
    generation: 7,
  };
  const created = await store.create(roles, given);
  t.is(created.metadata.uid, namedUid);
  t.regex((await store.create(roles, role('unnamed'))).metadata.uid!, uuid);
  t.not(created.metadata.resourceVersion, '999999');
  t.not(created.metadata.creationTimestamp, '2000-01-01T00:00:00Z');
  t.is(created.metadata.generation, 7);

  const bare = role('app');
  const updated = await store.update(roles, { ...bare, metadata: { ...bare.metadata, generation: 8 } });
  t.like(updated.metadata, { uid: created.metadata.uid, creationTimestamp: created.metadata.creationTimestamp, generation: 8 });

  const otherUid = { ...updated, metadata: { ...updated.metadata, uid: '00000000-0000-4000-8000-000000000000' } };
  const error = await t.throwsAsync(store.update(roles, otherUid), { instanceOf: Conflict });
  t.regex(error!.message, /Precondition failed: UID in precondition/);
});

test('AlreadyExists, NotFound and Conflict carry the key and the message kube-apiserver gives', async (t) => {
  const { store } = await suite.open(t);
  const created = await store.create(roles, role('app'));
  const key = { resource: roles, namespace: 'team-a', name: 'app' };

  const exists = await t.throwsAsync(store.create(roles, role('app')), { instanceOf: AlreadyExists });
  t.like(exists, { key, reason: 'AlreadyExists', code: 409, message: 'databaseroles.postgres.databases.dinhloc.dev "app" already exists' });

  const stale = { expectedResourceVersion: String(BigInt(created.metadata.resourceVersion!) - 1n) };
  const conflict = await t.throwsAsync(store.update(roles, created, stale), { instanceOf: Conflict });
  t.like(conflict, {
    key,
    reason: 'Conflict',
    code: 409,
    message:
      'Operation cannot be fulfilled on databaseroles.postgres.databases.dinhloc.dev "app": the object has been modified; please apply your changes to the latest version and try again',
  });
  await t.throwsAsync(store.delete(roles, 'team-a', 'app', stale), { instanceOf: Conflict });

  const missing = { resource: roles, namespace: 'team-a', name: 'nobody' };
  for (const attempt of [
    store.get(roles, 'team-a', 'nobody'),
    store.update(roles, role('nobody')),
    store.delete(roles, 'team-a', 'nobody'),
  ]) {
    const error = await t.throwsAsync(attempt, { instanceOf: NotFound });
    t.like(error, {
      key: missing,
      reason: 'NotFound',
      code: 404,
      message: 'databaseroles.postgres.databases.dinhloc.dev "nobody" not found',
    });
  }
  await t.throwsAsync(store.get(roles, 'team-b', 'app'), { instanceOf: NotFound }, 'the namespace is part of the key');

  t.is(await store.currentResourceVersion(), created.metadata.resourceVersion!, 'a refused write changes nothing');
  t.deepEqual(await store.changesSince(created.metadata.resourceVersion!), []);
  t.deepEqual(await store.get(roles, 'team-a', 'app'), created);
});

test('cluster-scoped objects have the empty namespace; core resources are named without a group', async (t) => {
  const { store } = await suite.open(t);
  const cluster = {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseCluster',
    metadata: { name: 'main-cluster' },
    spec: {},
  };
  const created = await store.create(clusters, cluster);
  t.deepEqual(await store.get(clusters, '', 'main-cluster'), created);
  t.deepEqual(keys((await store.list(clusters)).items), ['/main-cluster']);
  await t.throwsAsync(store.get(secrets, 'team-a', 'app-user-password'), {
    instanceOf: NotFound,
    message: 'secrets "app-user-password" not found',
  });
});

test('a list is sorted by namespace then name in byte order, filtered by namespace, and carries the current resourceVersion', async (t) => {
  // In a database whose collation sorts 'B' after 'b' and ignores '-', unlike kube-apiserver.
  const server = await suite.server();
  const database = unique('icu');
  await sql(server.superuserDsn, `CREATE DATABASE ${database} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'`);
  const url = new URL(server.superuserDsn);
  url.pathname = `/${database}`;
  const { store } = await suite.open(t, 'apiserver', url.toString());
  const wanted = ['team-b/a', 'team-a/b', 'team-a/B', 'team-a/a-b', 'team-a/a', 'team-a-b/a', 'team/z'];
  for (const key of wanted) {
    const [namespace, name] = key.split('/') as [string, string];
    await store.create(roles, role(name, namespace, unique('r')));
  }
  await store.create(clusters, { apiVersion: 'v', kind: 'DatabaseCluster', metadata: { name: 'another-resource' } });
  const list = await store.list(roles);
  t.deepEqual(keys(list.items), ['team/z', 'team-a/B', 'team-a/a', 'team-a/a-b', 'team-a/b', 'team-a-b/a', 'team-b/a']);
  t.is(list.resourceVersion, await store.currentResourceVersion());
  t.is(list.continue, undefined);
  t.deepEqual(keys((await store.list(roles, { namespace: 'team-a' })).items), ['team-a/B', 'team-a/a', 'team-a/a-b', 'team-a/b']);
  t.deepEqual(keys((await store.list(roles, { namespace: '' })).items), keys(list.items), "'' is every namespace");
  t.deepEqual((await store.list(roles, { namespace: 'nowhere' })).items, []);
});

test('paging with limit and continue returns every object exactly once, as of the first page', async (t) => {
  const { store } = await suite.open(t);
  for (const namespace of ['team-a', 'team-b'])
    for (const name of ['r1', 'r2', 'r3', 'r4']) await store.create(roles, role(name, namespace));
  const full = await store.list(roles);

  const first = await store.list(roles, { limit: 3 });
  t.deepEqual(keys(first.items), ['team-a/r1', 'team-a/r2', 'team-a/r3']);
  t.truthy(first.continue);
  // Meanwhile: one not yet listed is deleted, one is changed, one is created; the continued pages do not show it.
  const deleted = await store.delete(roles, 'team-b', 'r1');
  const changed = await store.get(roles, 'team-a', 'r4');
  await store.update(roles, { ...changed, spec: { roleName: 'changed' } });
  await store.create(roles, role('r5', 'team-b'));
  await store.create(roles, role('r0', 'team-b'));

  const pages = [first];
  while (pages.at(-1)!.continue) pages.push(await store.list(roles, { limit: 3, continue: pages.at(-1)!.continue! }));
  t.deepEqual(
    pages.map((p) => p.items.length),
    [3, 3, 2],
  );
  t.deepEqual(
    pages.map((p) => p.resourceVersion),
    [full.resourceVersion, full.resourceVersion, full.resourceVersion],
  );
  t.deepEqual(
    pages.flatMap((p) => p.items),
    full.items,
  );
  t.deepEqual(pages[1]!.items[0], changed, 'the object as it was when the list began');
  t.deepEqual(pages[1]!.items[1], {
    ...deleted,
    metadata: { ...deleted.metadata, resourceVersion: pages[1]!.items[1]!.metadata.resourceVersion },
  });

  const now = await store.list(roles, { namespace: 'team-b' });
  t.deepEqual(keys(now.items), ['team-b/r0', 'team-b/r2', 'team-b/r3', 'team-b/r4', 'team-b/r5']);
  const paged: KubeObject[] = [];
  for (
    let page = await store.list(roles, { namespace: 'team-b', limit: 2 });
    ;
    page = await store.list(roles, { namespace: 'team-b', limit: 2, continue: page.continue! })
  ) {
    paged.push(...page.items);
    if (!page.continue) break;
  }
  t.deepEqual(paged, now.items, 'paging keeps the namespace filter');
});

test('a continue token whose changes were compacted away is Expired; a forged one is a BadRequest', async (t) => {
  const { store } = await suite.open(t);
  for (const name of ['a', 'b', 'c']) await store.create(roles, role(name));
  const first = await store.list(roles, { limit: 1 });
  await store.create(roles, role('d'));
  await store.compact(0);
  const error = await t.throwsAsync(store.list(roles, { limit: 1, continue: first.continue! }), { instanceOf: Expired });
  t.like(error, { reason: 'Expired', code: 410 });
  t.regex(error!.message, /^The provided continue parameter is too old/);
  t.deepEqual(keys((await store.list(roles)).items), ['team-a/a', 'team-a/b', 'team-a/c', 'team-a/d'], 'a new list works');

  for (const forged of [
    'not base64 json!',
    Buffer.from('{"rv":"x","namespace":"","name":""}').toString('base64url'),
    Buffer.from('[]').toString('base64url'),
  ]) {
    await t.throwsAsync(store.list(roles, { continue: forged }), { instanceOf: BadRequest });
  }
});

test('changesSince replays ADDED, MODIFIED and DELETED in order, for one resource or all', async (t) => {
  const { store } = await suite.open(t);
  const start = await store.currentResourceVersion();
  const created = await store.create(roles, role('app'));
  const cluster = await store.create<KubeObject>(clusters, { apiVersion: 'v', kind: 'DatabaseCluster', metadata: { name: 'main' } });
  const updated = await store.update(roles, { ...created, spec: { roleName: 'changed' } });
  const deleted = await store.delete(roles, 'team-a', 'app');

  const changes = await store.changesSince(start);
  t.deepEqual(
    changes.map((c) => [c.type, c.resource, c.namespace, c.name, c.resourceVersion]),
    [
      ['ADDED', roles, 'team-a', 'app', created.metadata.resourceVersion],
      ['ADDED', clusters, '', 'main', cluster.metadata.resourceVersion],
      ['MODIFIED', roles, 'team-a', 'app', updated.metadata.resourceVersion],
      ['DELETED', roles, 'team-a', 'app', deleted.metadata.resourceVersion],
    ],
  );
  t.deepEqual(
    changes.map((c) => c.object),
    [created, cluster, updated, deleted],
  );
  t.true(increasing(changes.map((c) => c.resourceVersion)));
  t.deepEqual(
    (await store.changesSince(start, roles)).map((c) => c.type),
    ['ADDED', 'MODIFIED', 'DELETED'],
  );
  t.deepEqual(
    (await store.changesSince(updated.metadata.resourceVersion!)).map((c) => c.object),
    [deleted],
  );
  t.deepEqual(await store.changesSince(await store.currentResourceVersion()), []);
  await t.throwsAsync(store.changesSince('12abc'), { instanceOf: BadRequest });
});

test('compact keeps the newest changes; replaying from before them is Expired with the oldest resourceVersion still available', async (t) => {
  const { store } = await suite.open(t);
  const start = await store.currentResourceVersion();
  const written = [];
  for (const name of ['a', 'b', 'c', 'd', 'e']) written.push((await store.create(roles, role(name))).metadata.resourceVersion!);
  t.is(await store.compact(2), 3);
  t.is(await store.compact(2), 0, 'compacting again removes nothing');

  const oldest = written[2]!; // the newest change removed: replay can start from there
  t.deepEqual(
    (await store.changesSince(oldest)).map((c) => c.resourceVersion),
    written.slice(3),
  );
  for (const tooOld of [start, written[0]!, written[1]!]) {
    const error = await t.throwsAsync(store.changesSince(tooOld), { instanceOf: Expired });
    t.like(error, { reason: 'Expired', code: 410, message: `too old resource version: ${tooOld} (${oldest})` });
  }

  t.is(await store.compact(0), 2);
  const later = await store.create(roles, role('f'));
  t.deepEqual(
    (await store.changesSince(written[4]!)).map((c) => c.object),
    [later],
    'writes after compaction are replayed',
  );
  t.deepEqual(keys((await store.list(roles)).items).length, 6, 'compaction never touches objects');
  await t.throwsAsync(store.compact(-1), { instanceOf: RangeError });
});

test('after a restart the objects and changes are still there and new resourceVersions are larger', async (t) => {
  const { store, schema } = await suite.open(t);
  const created = [];
  for (const name of ['a', 'b', 'c']) created.push(await store.create(roles, role(name)));
  const before = await store.currentResourceVersion();
  await store.close();

  const { store: again } = await suite.open(t, schema);
  t.deepEqual((await again.list(roles)).items, created);
  t.is(await again.currentResourceVersion(), before);
  t.deepEqual(
    (await again.changesSince('0')).map((c) => c.object),
    created,
  );
  const next = await again.create(roles, role('d'));
  t.true(BigInt(next.metadata.resourceVersion!) > BigInt(before));
});

test('replicas starting together on a new schema all open it', async (t) => {
  const schema = unique('store');
  const replicas = await Promise.all([1, 2, 3, 4].map(() => suite.open(t, schema)));
  await replicas[0]!.store.create(roles, role('app'));
  for (const { store } of replicas) t.deepEqual(keys((await store.list(roles)).items), ['team-a/app']);
});

test('a user without superuser rights who owns its database can host the store', async (t) => {
  const server = await suite.server();
  const user = unique('store_owner');
  await sql(server.superuserDsn, `CREATE ROLE ${user} LOGIN PASSWORD 'owner-secret'`);
  await sql(server.superuserDsn, `CREATE DATABASE ${user} OWNER ${user}`);
  const url = new URL(asUser(server.superuserDsn, user, 'owner-secret'));
  url.pathname = `/${user}`;
  const { store } = await suite.open(t, 'apiserver', url.toString());
  const created = await store.create(roles, role('app'));
  t.deepEqual((await store.list(roles)).items, [created]);
});

test('errors do not show the password of the DSN', async (t) => {
  const server = await suite.server();
  const url = new URL(server.superuserDsn);
  url.password = 'wrong-Secret-42';
  const error = await t.throwsAsync(ObjectStore.open(url.toString(), { schema: unique('store') }));
  t.notRegex(error!.message, /wrong-Secret-42/);
  t.regex(error!.message, /^object store: while opening the store: /);
  t.notRegex(JSON.stringify(error, Object.getOwnPropertyNames(error)), /wrong-Secret-42/);
});

test('find reads only the objects whose field is one of the values, of that resource, by namespace and name', async (t) => {
  const { store } = await suite.open(t);
  await store.create(roles, role('b', 'team-b', 'shared_name'));
  await store.create(roles, role('a', 'team-a', 'shared_name'));
  await store.create(roles, role('other', 'team-a', 'other_name'));
  await store.create(roles, {
    ...role('elsewhere', 'team-a', 'shared_name'),
    spec: { roleName: 'shared_name', databaseClusterRef: { name: 'second-cluster' } },
  });
  await store.create(secrets, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', namespace: 'team-a' },
    spec: { roleName: 'shared_name' },
  });
  const byName = await store.find(roles, ['spec', 'roleName'], ['shared_name']);
  t.deepEqual(
    byName.map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    ['team-a/a', 'team-a/elsewhere', 'team-b/b'],
  );
  const byCluster = await store.find(roles, ['spec', 'databaseClusterRef', 'name'], ['second-cluster', 'no-such-cluster']);
  t.deepEqual(
    byCluster.map((o) => o.metadata.name),
    ['elsewhere'],
  );
  t.deepEqual(await store.find(roles, ['spec', 'roleName'], []), []);
});

/** The plan PostgreSQL chooses for `query` when a table scan is its last resort (the test's tables are small). */
async function explained(dsn: string, query: string): Promise<string> {
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    await client.query('SET enable_seqscan = off');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${query}`);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await client.end();
  }
}

test("find by a write's lookup fields reads by index, not every object of the resource", async (t) => {
  const { store, schema } = await suite.open(t);
  await store.create(roles, role('a', 'team-a', 'shared_name'));
  const dsn = (await suite.server()).superuserDsn;
  for (const [path, value] of [
    [['spec', 'roleName'], 'shared_name'],
    [['spec', 'databaseClusterRef', 'name'], 'main'],
    [['involvedObject', 'uid'], 'u'],
  ] as const) {
    const text = `object #>> '{${path.map((p) => `"${p}"`).join(',')}}'`;
    const plan = await explained(dsn, `SELECT object FROM "${schema}".objects WHERE resource = 'r' AND ${text} = ANY(ARRAY['${value}'])`);
    t.true(plan.includes(`objects_by_${path.join('_')}`), `${path.join('.')}: ${plan}`);
  }
});

test('a claim is taken with the object it belongs to, refused to any other object while held, and released with it', async (t) => {
  const { store } = await suite.open(t);
  const claim = { server: '7000000000000000001', kind: 'role' as const, name: 'shared_name' };
  const first = await store.create(roles, role('first'), [claim]);
  const refused = await t.throwsAsync(store.create(roles, role('second', 'team-b'), [claim]), { instanceOf: Conflict });
  t.regex(
    refused.message,
    /role "shared_name" on this PostgreSQL server belongs to databaseroles\.postgres\.databases\.dinhloc\.dev "team-a\/first"/,
  );
  await t.throwsAsync(store.get(roles, 'team-b', 'second'), { instanceOf: NotFound }, 'the object that lost its claim is not stored');
  await t.throwsAsync(
    store.checkClaims(
      roles,
      { ...role('third'), metadata: { name: 'third', namespace: 'team-a', uid: '11111111-2222-4333-8444-555555555555' } },
      [claim],
    ),
    { instanceOf: Conflict },
  );
  await t.notThrowsAsync(store.claim(roles, first, [claim]), 'its own claim is its own');
  await t.notThrowsAsync(store.claim(roles, first, [{ ...claim, kind: 'database' }]), 'and it may take more');
  await store.delete(roles, 'team-a', 'first');
  const second = await store.create(roles, role('second', 'team-b'), [claim, { ...claim, kind: 'database' }]);
  t.is(second.metadata.name, 'second', 'both names were released with the object that held them');
});

test('concurrent writes of one object from two replicas: with the same resourceVersion expected one wins; without, none is lost', async (t) => {
  const { store, schema } = await suite.open(t);
  const { store: other } = await suite.open(t, schema);
  const created = await store.create(roles, role('app'));
  const expected = { expectedResourceVersion: created.metadata.resourceVersion! };
  const racing = await Promise.allSettled(
    Array.from({ length: 6 }, (_, i) => (i % 2 ? other : store).update(roles, { ...created, spec: { roleName: `r${i}` } }, expected)),
  );
  t.is(racing.filter((r) => r.status === 'fulfilled').length, 1, 'one write wins');
  t.true(
    racing.every((r) => r.status === 'fulfilled' || r.reason instanceof Conflict),
    'the others are Conflicts',
  );

  const start = await store.currentResourceVersion();
  const written = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).update(roles, { ...created, spec: { roleName: `u${i}` } })),
  );
  const changes = await store.changesSince(start);
  t.deepEqual(
    changes.map((c) => c.object.spec).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    written.map((o) => o.spec).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    'each update is one change',
  );
  // Each change's object before it is the one the change before left: no write was made on top of a stale row.
  const log = await sql<{ object: KubeObject; previous: KubeObject }>(
    (await suite.server()).superuserDsn,
    `SELECT object, previous FROM "${schema}".changes WHERE resource_version > $1 ORDER BY resource_version`,
    { params: [start] },
  );
  for (let i = 1; i < log.length; i++) t.deepEqual(log[i]!.previous, log[i - 1]!.object);
  t.deepEqual(await store.get(roles, 'team-a', 'app'), changes.at(-1)!.object);
});
