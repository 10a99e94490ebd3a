// Lists and gets from memory (cache.ts), kept current by the change feed: every read sees the writes committed
// before it, on any replica, at once; paging and Expired as from the store's tables; the store answers while
// the cache fills and while the feed is not listening.
import test, { type ExecutionContext } from 'ava';
import { Conflict, Expired, NotFound, ObjectStore } from '../../storage/objects/store.ts';
import { sql, unique } from '../support/postgres.ts';
import { keys, replicaWithOwnUser, role, roles, storeSuite, until } from './support.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import { ObjectCache } from '../../storage/objects/cache.ts';
import type { Change } from '../../storage/objects/types.ts';

const suite = storeSuite(test);

/** A replica on `schema` that counts where its reads were answered from. */
async function replica(t: ExecutionContext, schema = unique('cache')) {
  const reads = { memory: 0, store: 0 };
  const store = await ObjectStore.open((await suite.server()).superuserDsn, { schema, onRead: ({ from }) => reads[from]++ });
  t.teardown(() => store.close());
  /** Lists until a list is answered from memory: the cache is filled and current. */
  const cached = async () => {
    await until('a list from memory', async () => {
      const before = reads.memory;
      await store.list(roles);
      return reads.memory > before;
    });
  };
  return { store, schema, reads, cached };
}

test('once filled, lists and gets come from memory, and a write of another replica is seen by the very next read', async (t) => {
  const reader = await replica(t);
  const writer = await replica(t, reader.schema);
  for (const name of ['b', 'a']) await writer.store.create(roles, role(name));
  await reader.cached();
  const storeReads = reader.reads.store;

  for (let i = 0; i < 10; i++) {
    const created = await writer.store.create(roles, role(`new-${i}`, 'team-b'));
    const list = await reader.store.list(roles);
    t.true(keys(list.items).includes(`team-b/new-${i}`), `list ${i} sees the write answered before it`);
    t.is(list.resourceVersion, created.metadata.resourceVersion!);
    t.deepEqual(await reader.store.get(roles, 'team-b', `new-${i}`), created);
    const updated = await writer.store.update(roles, { ...created, spec: { roleName: `changed_${i}` } });
    t.deepEqual(await reader.store.get(roles, 'team-b', `new-${i}`), updated);
    await writer.store.delete(roles, 'team-b', `new-${i}`);
    await t.throwsAsync(reader.store.get(roles, 'team-b', `new-${i}`), { instanceOf: NotFound });
  }
  t.deepEqual(keys((await reader.store.list(roles)).items), ['team-a/a', 'team-a/b']);
  t.deepEqual(keys((await reader.store.list(roles, { namespace: 'team-b' })).items), []);
  t.is(reader.reads.store, storeReads, 'every read after the cache was filled came from memory');
});

test('from memory, lists are sorted by namespace then name in byte order and filtered by namespace, as from the store', async (t) => {
  const { store, cached } = await replica(t);
  for (const key of [
    'team-b/a',
    'team-a/b',
    'team-a/B',
    'team-a/a-b',
    'team-a/a',
    'team-a-b/a',
    'team/z',
    'team-a/é',
    'team-a/😀',
    'team-a/\uffee',
  ]) {
    const [namespace, name] = key.split('/') as [string, string];
    await store.create(roles, role(name, namespace, unique('r')));
  }
  const fromStore = await store.list(roles);
  await cached();
  const fromMemory = await store.list(roles);
  t.deepEqual(keys(fromMemory.items), keys(fromStore.items));
  t.deepEqual(keys(fromMemory.items).slice(0, 4), ['team/z', 'team-a/B', 'team-a/a', 'team-a/a-b']);
  t.deepEqual(
    keys((await store.list(roles, { namespace: 'team-a' })).items),
    keys(fromStore.items).filter((k) => k.startsWith('team-a/')),
  );
});

test('paging from memory: each object once, as of the first page, even when objects change between pages', async (t) => {
  const { store, cached, reads } = await replica(t);
  for (const namespace of ['team-a', 'team-b'])
    for (const name of ['r1', 'r2', 'r3', 'r4']) await store.create(roles, role(name, namespace));
  await cached();
  const full = await store.list(roles);
  const pageThrough = async (change?: () => Promise<unknown>) => {
    const pages = [await store.list(roles, { limit: 3 })];
    await change?.();
    while (pages.at(-1)!.continue) pages.push(await store.list(roles, { limit: 3, continue: pages.at(-1)!.continue! }));
    return pages;
  };
  const memoryBefore = reads.memory;
  const unchanged = await pageThrough();
  t.deepEqual(
    unchanged.map((p) => p.items.length),
    [3, 3, 2],
  );
  t.deepEqual(
    unchanged.flatMap((p) => p.items),
    full.items,
  );
  t.is(reads.memory - memoryBefore, 3, 'pages of an unchanged resource come from memory');

  const changedName = (o: KubeObject) => (o.spec as { roleName: string }).roleName;
  const changedMeanwhile = await pageThrough(async () => {
    await store.delete(roles, 'team-b', 'r1');
    const r4 = await store.get(roles, 'team-a', 'r4');
    await store.update(roles, { ...r4, spec: { roleName: 'changed' } });
  });
  t.deepEqual(
    changedMeanwhile.flatMap((p) => p.items),
    full.items,
    'the continued pages show the list as it began',
  );
  t.false(changedMeanwhile.flatMap((p) => p.items).some((o) => changedName(o) === 'changed'));
  t.deepEqual(new Set(changedMeanwhile.map((p) => p.resourceVersion)).size, 1);

  const first = await store.list(roles, { limit: 1 });
  await store.create(roles, role('r5'));
  await store.compact(0);
  await t.throwsAsync(store.list(roles, { limit: 1, continue: first.continue! }), { instanceOf: Expired });
});

test('while the feed is not listening, reads come from the store and are current; listening again, from memory', async (t) => {
  const writer = await replica(t);
  const reads = { memory: 0, store: 0 };
  const reader = await replicaWithOwnUser(t, suite, writer.schema, { onRead: ({ from }) => reads[from]++ });
  await writer.store.create(roles, role('a'));
  await until('a list from memory', async () => {
    await reader.store.list(roles);
    return reads.memory > 0;
  });
  await reader.disconnect();
  const created = await writer.store.create(roles, role('b'));
  const before = { ...reads };
  t.deepEqual(keys((await reader.store.list(roles)).items), ['team-a/a', 'team-a/b']);
  t.deepEqual(await reader.store.get(roles, 'team-a', 'b'), created);
  t.deepEqual(reads, { memory: before.memory, store: before.store + 2 }, 'both from the store');

  await reader.reconnect();
  await writer.store.delete(roles, 'team-a', 'a');
  await until('a list from memory again', async () => {
    const memory = reads.memory;
    const list = await reader.store.list(roles);
    t.deepEqual(keys(list.items), ['team-a/b'], 'current, wherever it was read');
    return reads.memory > memory;
  });
});

test('a store that went back (restored from an older copy) is read from its tables, then cached anew from them', async (t) => {
  const { store, schema, cached } = await replica(t);
  const kept = await store.create(roles, role('kept'));
  await store.create(roles, role('lost'));
  await cached();
  // The restore: the tables as they were once `kept` was written.
  const dsn = (await suite.server()).superuserDsn;
  const at = kept.metadata.resourceVersion!;
  await sql(
    dsn,
    `DELETE FROM "${schema}".objects WHERE name = 'lost';
     DELETE FROM "${schema}".changes WHERE resource_version > ${at};
     UPDATE "${schema}".state SET resource_version = ${at};`,
  );
  await t.throwsAsync(store.get(roles, 'team-a', 'lost'), { instanceOf: NotFound });
  t.deepEqual(keys((await store.list(roles)).items), ['team-a/kept']);
  await cached();
  t.deepEqual(keys((await store.list(roles)).items), ['team-a/kept'], 'the cache made anew holds what the store holds');
  const again = await store.create(roles, role('lost'));
  t.deepEqual(await store.get(roles, 'team-a', 'lost'), again, 'and follows the writes after the restore');
});

test("a write is never decided by memory that has not heard of another replica's change yet: the row is read again first", async (t) => {
  const writer = await replica(t);
  const other = await replica(t, writer.schema);
  const created = await writer.store.create(roles, role('app'));
  await writer.cached();
  for (let i = 0; i < 20; i++) {
    // The other replica's change, then at once a write on this one, whose memory may still hold the object before it.
    const current = await writer.store.get(roles, 'team-a', 'app');
    const changed = await other.store.update(roles, { ...current, spec: { roleName: `other_${i}` } });
    const expected = { expectedResourceVersion: changed.metadata.resourceVersion! };
    const updated = await writer.store.update(roles, { ...changed, spec: { roleName: `writer_${i}` } }, expected);
    t.like(updated.metadata, { uid: created.metadata.uid, creationTimestamp: created.metadata.creationTimestamp });
    const stale = { expectedResourceVersion: changed.metadata.resourceVersion! };
    await t.throwsAsync(writer.store.update(roles, { ...changed, spec: { roleName: 'stale' } }, stale), { instanceOf: Conflict });
  }
  const last = await other.store.update(roles, { ...created, spec: { roleName: 'last' } });
  const deleted = await writer.store.delete(roles, 'team-a', 'app', { expectedResourceVersion: last.metadata.resourceVersion! });
  t.deepEqual(deleted.spec, { roleName: 'last' }, 'the delete returns the state the other replica left');
});

test('finds from memory answer as the store does, by any field, and see the write of another replica at once', async (t) => {
  const reader = await replica(t);
  const writer = await replica(t, reader.schema);
  const fromStore = await ObjectStore.open((await suite.server()).superuserDsn, { schema: reader.schema });
  t.teardown(() => fromStore.close());
  const withSpec = (name: string, namespace: string, spec: Record<string, unknown>) => ({ ...role(name, namespace), spec });
  await writer.store.create(
    roles,
    withSpec('b', 'team-b', { roleName: 'shared', connectionLimit: 5, databaseClusterRef: { name: 'one' } }),
  );
  await writer.store.create(roles, withSpec('a', 'team-b', { roleName: 'shared', connectionLimit: 5 }));
  await writer.store.create(roles, withSpec('z', 'team-a', { roleName: 'other', connectionLimit: null, flag: true }));
  await writer.store.create(roles, withSpec('c', 'team-a', { roleName: 'shared', memberOf: ['x', 'y'] }));
  await reader.cached();
  const finds: [string[], string[]][] = [
    [['spec', 'roleName'], ['shared']],
    [
      ['spec', 'roleName'],
      ['other', 'shared', 'none'],
    ],
    [['spec', 'connectionLimit'], ['5']],
    [
      ['spec', 'connectionLimit'],
      ['null', ''],
    ],
    [['spec', 'flag'], ['true']],
    [['spec', 'memberOf'], ['["x","y"]']],
    [['spec', 'databaseClusterRef', 'name'], ['one']],
    [['spec', 'missing', 'name'], ['one']],
    [
      ['metadata', 'name'],
      ['a', 'z'],
    ],
  ];
  const compare = async (when: string) => {
    for (const [path, values] of finds) {
      const before = reader.reads.memory;
      const found = await reader.store.find(roles, path, values);
      t.true(reader.reads.memory > before, `${when}: ${path.join('.')} from memory`);
      t.deepEqual(keys(found), keys(await fromStore.find(roles, path, values)), `${when}: ${path.join('.')} = ${values.join(', ')}`);
    }
  };
  await compare('created');
  const b = await writer.store.get(roles, 'team-b', 'b');
  await writer.store.update(roles, { ...b, spec: { roleName: 'other', flag: true } });
  await writer.store.delete(roles, 'team-a', 'c');
  await compare('changed by the other replica just before');
  t.deepEqual(keys(await reader.store.find(roles, ['spec', 'roleName'], ['shared'])), ['team-b/a']);
});

test("a read of the store's resourceVersion overtaken by a change delivered meanwhile keeps the cache: only a store that answers less than the cache held before went back", async (t) => {
  // A source in memory, its answers in the test's hands: the cache's contract with the store, not the store.
  let listed = 0;
  const states: ((state: { resourceVersion: bigint; oldest: bigint }) => void)[] = [];
  let listener: ((change: Change) => void) | undefined;
  const cache = new ObjectCache({
    listAll: async () => {
      listed++;
      return { items: [role('a')], resourceVersion: 10n };
    },
    state: () => new Promise((resolve) => states.push(resolve)),
    subscribe: async (onChange) => {
      listener = onChange;
      return () => undefined;
    },
    delivered: async () => true,
  });
  t.is(await cache.get(roles, 'team-a', 'a'), undefined, 'the first read fills the cache; the store answers it');
  await until('the cache is filled', () => listed === 1 && listener !== undefined);
  const read = cache.get(roles, 'team-a', 'b');
  await until('the read asks the store', () => states.length === 1);
  // This process's write, committed after the read's answer was made, is delivered before that answer arrives.
  const b = { ...role('b'), metadata: { ...role('b').metadata, resourceVersion: '11' } };
  listener!({ type: 'ADDED', resource: roles, namespace: 'team-a', name: 'b', resourceVersion: '11', object: b });
  states.shift()!({ resourceVersion: 10n, oldest: 0n });
  t.deepEqual(await read, b, 'answered from memory, which holds more than the read');
  const after = cache.get(roles, 'team-a', 'b');
  await until('the next read asks the store', () => states.length === 1);
  states.shift()!({ resourceVersion: 11n, oldest: 0n });
  t.deepEqual(await after, b);
  t.is(listed, 1, 'never filled again');
  const wentBack = cache.get(roles, 'team-a', 'b');
  await until('a read asks the store', () => states.length === 1);
  states.shift()!({ resourceVersion: 5n, oldest: 0n });
  t.is(await wentBack, undefined, 'a store that answers less than the cache held before went back: the store answers');
});

test("a store's only writer reads from memory without asking the store for its resourceVersion, and sees every write of its own at once", async (t) => {
  const reads = { memory: 0, store: 0 };
  const store = await ObjectStore.open((await suite.server()).superuserDsn, {
    schema: unique('alone'),
    soleWriter: true,
    onRead: ({ from }) => reads[from]++,
  });
  t.teardown(() => store.close());
  await store.create(roles, role('a'));
  await until('a list from memory', async () => {
    const before = reads.memory;
    await store.list(roles);
    return reads.memory > before;
  });
  const asked = store.resourceVersionReads;
  const fromStore = reads.store;
  for (let i = 0; i < 5; i++) {
    const created = await store.create(roles, role(`new-${i}`));
    t.deepEqual(await store.get(roles, 'team-a', `new-${i}`), created, `get ${i} sees the create answered before it`);
    const updated = await store.update(roles, { ...created, spec: { roleName: `changed_${i}` } }, {});
    const list = await store.list(roles);
    t.deepEqual(
      list.items.find((o) => o.metadata.name === `new-${i}`),
      updated,
      `list ${i} sees the update answered before it`,
    );
    t.is(list.resourceVersion, updated.metadata.resourceVersion!, 'the list is as of the last write');
    await store.delete(roles, 'team-a', `new-${i}`, {});
    await t.throwsAsync(store.get(roles, 'team-a', `new-${i}`), { instanceOf: NotFound });
  }
  t.is(store.resourceVersionReads, asked, 'no read asked the store for its resourceVersion');
  t.is(reads.store, fromStore, 'every get and list came from memory');
  // Its readiness still asks the store itself.
  t.is(await store.currentResourceVersion(), (await store.list(roles)).resourceVersion);
  t.is(store.resourceVersionReads, asked + 1);
  // Compaction moves the oldest change it knows of: a watch from before it is told Expired.
  const { resourceVersion: before } = await store.list(roles);
  await store.create(roles, role('after'));
  await store.compact(0);
  await t.throwsAsync(
    store.watch(() => undefined, { resourceVersion: String(BigInt(before) - 1n) }),
    { instanceOf: Expired },
  );
});
