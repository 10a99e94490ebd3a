// The Secret cache: a Secret read once is answered from memory while the Secret watch is open, and never after
// the watch said it changed, after a gap, or while the watch is down. The Secrets live in a real object store;
// the test plays the watch, whose timing is what the cache must get right.
import test, { type ExecutionContext } from 'ava';
import { cachedSecrets } from '../../storage/kubernetes/secretcache.ts';
import { secretReader } from '../../storage/kubernetes/secrets.ts';
import type { SecretChanges, SecretReader } from '../../storage/kubernetes/types.ts';
import { storeCore } from '../../reconcile/kinds/core.ts';
import { ObjectStore } from '../../storage/objects/store.ts';
import { startTestServer, unique, type TestServer } from '../support/postgres.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer('pg17');
});
test.after.always(async () => server?.stop());

/** A reader over a real store that counts the reads reaching it, a cache over it, and the watch the test plays. */
async function setUp(t: ExecutionContext) {
  const store = await ObjectStore.open(server.superuserDsn, { schema: unique('secrets') });
  t.teardown(() => store.close());
  const inner = secretReader(storeCore(store).secrets);
  const reached = { count: 0 };
  const counted: SecretReader = {
    ...inner,
    read: (namespace, name) => {
      reached.count++;
      return inner.read(namespace, name);
    },
    readNamed: (namespace, names) => {
      reached.count += names.length;
      return inner.readNamed(namespace, names);
    },
  };
  let watch!: SecretChanges;
  const cache = cachedSecrets(counted, (changes) => {
    watch = changes;
    return { stop: () => undefined };
  });
  t.teardown(() => cache.stop());
  await inner.write('team-a', 'dsn', { connection: 'postgres://one' }, {});
  const update = async (value: string) => {
    await inner.write('team-a', 'dsn', { connection: value }, {});
  };
  return { cache, watch, reached, update };
}

test('while the watch is open, a Secret read again comes from memory', async (t) => {
  const { cache, watch, reached } = await setUp(t);
  watch.following!(true);
  t.is((await cache.reader.read('team-a', 'dsn'))?.data.connection, 'postgres://one');
  t.is((await cache.reader.read('team-a', 'dsn'))?.data.connection, 'postgres://one');
  t.is((await cache.reader.readNamed('team-a', ['dsn'])).get('dsn')?.data.connection, 'postgres://one');
  t.is(reached.count, 1);
});

test('a Secret the watch says changed is read again: its new value, never the kept one', async (t) => {
  const { cache, watch, reached, update } = await setUp(t);
  watch.following!(true);
  await cache.reader.read('team-a', 'dsn');
  await update('postgres://two');
  watch.changed('team-a', 'dsn');
  t.is((await cache.reader.read('team-a', 'dsn'))?.data.connection, 'postgres://two');
  t.is(reached.count, 2);
});

test('with no watch open (never opened, closed, or came back after a gap), every read reaches the Secrets', async (t) => {
  const { cache, watch, reached, update } = await setUp(t);
  await cache.reader.read('team-a', 'dsn');
  await cache.reader.read('team-a', 'dsn');
  t.is(reached.count, 2, 'never opened');
  watch.following!(true);
  await cache.reader.read('team-a', 'dsn');
  watch.following!(false);
  await update('postgres://two');
  t.is((await cache.reader.read('team-a', 'dsn'))?.data.connection, 'postgres://two', 'closed: a change it missed is seen');
  watch.following!(true);
  await cache.reader.read('team-a', 'dsn');
  await update('postgres://three');
  watch.missed();
  t.is((await cache.reader.read('team-a', 'dsn'))?.data.connection, 'postgres://three', 'after a gap: everything kept is forgotten');
  t.is(reached.count, 6);
});

test('a read that began before a change keeps nothing: the next read reaches the Secret again', async (t) => {
  const { cache, watch, reached, update } = await setUp(t);
  watch.following!(true);
  const racing = cache.reader.read('team-a', 'dsn');
  watch.changed('team-a', 'dsn');
  await racing;
  await update('postgres://two');
  t.is((await cache.reader.read('team-a', 'dsn'))?.data.connection, 'postgres://two');
  t.is(reached.count, 2);
});

test("the server's own write of a Secret is never hidden by what was kept before it", async (t) => {
  const { cache, watch } = await setUp(t);
  watch.following!(true);
  await cache.reader.read('team-a', 'dsn');
  await cache.reader.write('team-a', 'dsn', { connection: 'postgres://written' }, {});
  t.is((await cache.reader.read('team-a', 'dsn'))?.data.connection, 'postgres://written');
});

/** A follower that records only what it hears of the watch being open. */
function openness(): { heard: boolean[]; changes: SecretChanges } {
  const heard: boolean[] = [];
  const ignore = () => undefined;
  return { heard, changes: { changed: ignore, missed: ignore, failed: ignore, following: (open) => heard.push(open) } };
}

test('a follower subscribing to a watch open already hears that it is open, as those before it did', async (t) => {
  const { cache, watch } = await setUp(t);
  const [early, late] = [openness(), openness()];
  const subscriptions = [cache.watch(early.changes)];
  watch.following!(true);
  subscriptions.push(cache.watch(late.changes));
  watch.following!(false);
  for (const s of subscriptions) s.stop();
  t.deepEqual(early.heard, [true, false]);
  t.deepEqual(late.heard, [true, false]);
});

test('the follower subscribed to the shared watch hears every change, and nothing once it stops', async (t) => {
  const { cache, watch } = await setUp(t);
  const heard: string[] = [];
  const subscription = cache.watch({
    changed: (namespace, name) => heard.push(`${namespace}/${name}`),
    missed: () => heard.push('missed'),
    failed: () => heard.push('failed'),
  });
  watch.changed('team-a', 'dsn');
  watch.missed();
  watch.failed(new Error('connection reset'), 1);
  subscription.stop();
  watch.changed('team-a', 'other');
  t.deepEqual(heard, ['team-a/dsn', 'missed', 'failed']);
});

test("local mode's Secret watch (the store's change feed) keeps the cache open: a Secret read again comes from memory, a change made through the store is read at once", async (t) => {
  const store = await ObjectStore.open(server.superuserDsn, { schema: unique('secrets') });
  t.teardown(() => store.close());
  const core = storeCore(store);
  const inner = secretReader(core.secrets);
  let reached = 0;
  const cache = cachedSecrets({ ...inner, read: (namespace, name) => (reached++, inner.read(namespace, name)) }, core.watchSecrets);
  t.teardown(() => cache.stop());
  await inner.write('team-a', 'dsn', { connection: 'postgres://one' }, {});
  // The watch opens in the background: until it does, every read reaches the store. Once it is open, of two reads
  // in a row the second at least comes from memory.
  const readTwice = async () => {
    const before = reached;
    await cache.reader.read('team-a', 'dsn');
    await cache.reader.read('team-a', 'dsn');
    return reached - before;
  };
  const deadline = Date.now() + 30_000;
  while ((await readTwice()) === 2) {
    if (Date.now() > deadline) throw new Error('the cache never answered from memory: the watch never said it was open');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await inner.write('team-a', 'dsn', { connection: 'postgres://two' }, {});
  t.is((await cache.reader.read('team-a', 'dsn'))?.data.connection, 'postgres://two', 'the write reached the watch before it returned');
});
