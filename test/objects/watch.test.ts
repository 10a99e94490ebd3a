// Watches against a real PostgreSQL server: replay then live changes, several replicas on one database,
// concurrent writers, and a LISTEN connection that breaks.
import test from 'ava';
import { sql } from '../support/postgres.ts';
import { Expired, type Change, type ObjectStore, type WatchOptions } from '../../storage/objects/store.ts';
import { clusters, increasing, replicaWithOwnUser, role, roles, storeSuite, terminateListener, until } from './support.ts';

const suite = storeSuite(test);

/** Starts a watch that records what it gets. */
async function recorder(store: ObjectStore, options: WatchOptions = {}) {
  const changes: Change[] = [];
  const errors: Error[] = [];
  const stop = await store.watch((change) => changes.push(change), { ...options, onError: (error) => errors.push(error) });
  return { changes, errors, stop, summary: () => changes.map((c) => `${c.type} ${c.name}`) };
}

test('a watch replays the changes after its resourceVersion, then delivers live ones, in order', async (t) => {
  const { store } = await suite.open(t);
  const start = await store.currentResourceVersion();
  const a = await store.create(roles, role('a'));
  await store.create(roles, role('b'));
  const watch = await recorder(store, { resourceVersion: start, resource: roles });
  t.deepEqual(watch.summary(), ['ADDED a', 'ADDED b'], 'the replay is delivered before watch() resolves');

  await store.create(clusters, { apiVersion: 'v', kind: 'DatabaseCluster', metadata: { name: 'not-a-role' } });
  await store.update(roles, { ...a, spec: { roleName: 'changed' } });
  await store.delete(roles, 'team-a', 'b');
  await until('the live changes', () => watch.changes.length === 4);
  t.deepEqual(watch.summary(), ['ADDED a', 'ADDED b', 'MODIFIED a', 'DELETED b']);
  t.true(increasing(watch.changes.map((c) => c.resourceVersion)));
  t.deepEqual(watch.changes, await store.changesSince(start, roles));
});

test('a watch without a resourceVersion starts from the current state', async (t) => {
  const { store } = await suite.open(t);
  await store.create(roles, role('before'));
  const watch = await recorder(store);
  await store.create(roles, role('after'));
  await until('the new object', () => watch.changes.length === 1);
  t.deepEqual(watch.summary(), ['ADDED after']);
});

test('a write on one replica reaches a watcher on another, in order', async (t) => {
  const { store: one, schema } = await suite.open(t);
  const { store: other } = await suite.open(t, schema);
  const watch = await recorder(other);
  const created = await one.create(roles, role('app'));
  await one.update(roles, { ...created, spec: { roleName: 'changed' } });
  await one.delete(roles, 'team-a', 'app');
  await until('the other replica to see the writes', () => watch.changes.length === 3);
  t.deepEqual(watch.summary(), ['ADDED app', 'MODIFIED app', 'DELETED app']);
  t.true(increasing(watch.changes.map((c) => c.resourceVersion)));
});

test("a replica's own write reaches its watchers before the write returns, as the log holds it; another replica's comes through the log", async (t) => {
  const { store: one, schema } = await suite.open(t);
  const { store: other } = await suite.open(t, schema);
  const start = await one.currentResourceVersion();
  const watch = await recorder(one);
  const object = role('own', 'team-a');
  await one.create(roles, object);
  t.deepEqual(watch.summary(), ['ADDED own'], 'delivered with no notification awaited');
  (object.spec as { roleName: string }).roleName = 'changed_by_its_caller';
  await other.create(roles, role('theirs', 'team-a'));
  await until("the other replica's change", () => watch.changes.length === 2);
  t.deepEqual(watch.changes, await one.changesSince(start), 'the caller changing its object afterwards changes nothing delivered');
});

test("a replica's own writes are not read back from the log; another replica's are", async (t) => {
  const { store: one, schema } = await suite.open(t);
  const { store: other } = await suite.open(t, schema);
  const [oneWatch, otherWatch] = [await recorder(one), await recorder(other)];
  const [oneBefore, otherBefore] = [one.changeLogReads, other.changeLogReads];
  for (let i = 0; i < 20; i++) await one.create(roles, role(`own-${i}`, 'team-a'));
  await until('the other replica has every change', () => otherWatch.changes.length === 20);
  t.true(other.changeLogReads > otherBefore, 'the other replica read them from the log');
  // A change of the other replica, notified after the 20: once this replica has it, it has heard them all.
  await other.create(roles, role('theirs', 'team-a'));
  await until('the change of the other replica', () => oneWatch.changes.length === 21);
  // Its notification waits for the writes then under way; one that comes between two writes is read from the log.
  const reads = one.changeLogReads - oneBefore;
  t.true(reads >= 1 && reads < 10, `${reads} reads of the log for 20 own writes and 1 of the other replica`);
});

test('concurrent writers on two replicas: every watcher sees every change once, in resourceVersion order', async (t) => {
  const { store: one, schema } = await suite.open(t);
  const { store: other } = await suite.open(t, schema);
  const start = await one.currentResourceVersion();
  const watches = [await recorder(one), await recorder(other)];
  const names = Array.from({ length: 50 }, (_, i) => `role-${i}`);
  await Promise.all([
    ...names.map((name) => one.create(roles, role(name, 'team-a'))),
    ...names.map((name) => other.create(roles, role(name, 'team-b'))),
  ]);

  const logged = await one.changesSince(start);
  t.is(logged.length, 100);
  for (const watch of watches) {
    await until('all 100 changes', () => watch.changes.length >= 100);
    t.true(increasing(watch.changes.map((c) => c.resourceVersion)));
    t.deepEqual(watch.changes, logged);
  }
});

test('a watcher survives its LISTEN connection being terminated and catches up', async (t) => {
  const server = await suite.server();
  const { store, schema } = await suite.open(t);
  const watch = await recorder(store);
  await store.create(roles, role('before'));
  await until('the first change', () => watch.changes.length === 1);

  await terminateListener(server.superuserDsn, schema);
  for (const name of ['during-1', 'during-2', 'during-3']) await store.create(roles, role(name));
  await until('the changes made while reconnecting', () => watch.changes.length === 4);
  await until(
    'a new LISTEN connection',
    async () =>
      (await sql(server.superuserDsn, `SELECT 1 FROM pg_stat_activity WHERE query = $1`, { params: [`LISTEN "${schema}"`] })).length === 1,
  );
  await store.create(roles, role('after'));
  await until('the change made after reconnecting', () => watch.changes.length === 5);
  t.deepEqual(watch.summary(), ['ADDED before', 'ADDED during-1', 'ADDED during-2', 'ADDED during-3', 'ADDED after']);
  t.deepEqual(watch.errors, []);
});

test('a watcher catches up on every change made while its replica could not connect', async (t) => {
  const { store: writer, schema } = await suite.open(t);
  const replica = await replicaWithOwnUser(t, suite, schema);
  const watch = await recorder(replica.store);
  await replica.disconnect();
  for (const name of ['a', 'b', 'c']) await writer.create(roles, role(name));
  t.deepEqual(watch.changes, [], 'nothing arrives while disconnected');
  await replica.reconnect();
  await until('the missed changes', () => watch.changes.length === 3);
  t.deepEqual(watch.summary(), ['ADDED a', 'ADDED b', 'ADDED c']);
  t.deepEqual(watch.errors, []);
});

test('a watcher whose replica missed changes that were compacted meanwhile ends with Expired', async (t) => {
  const { store: writer, schema } = await suite.open(t);
  const replica = await replicaWithOwnUser(t, suite, schema);
  const watch = await recorder(replica.store);
  await replica.disconnect();
  for (const name of ['a', 'b', 'c']) await writer.create(roles, role(name));
  await writer.compact(0);
  await replica.reconnect();
  await until('the watch to end', () => watch.errors.length === 1);
  t.true(watch.errors[0] instanceof Expired);
  t.regex(watch.errors[0]!.message, /^too old resource version: \d+ \(\d+\)$/);
  t.deepEqual(watch.changes, []);

  const next = await recorder(replica.store);
  await writer.create(roles, role('d'));
  await until('a new watch to work', () => next.changes.length === 1);
  t.deepEqual(next.summary(), ['ADDED d']);
});

test('a watch from a compacted resourceVersion is refused with Expired', async (t) => {
  const { store } = await suite.open(t);
  const start = await store.currentResourceVersion();
  for (const name of ['a', 'b']) await store.create(roles, role(name));
  await store.compact(1);
  const error = await t.throwsAsync(
    store.watch(() => undefined, { resourceVersion: start }),
    { instanceOf: Expired },
  );
  t.regex(error!.message, new RegExp(`^too old resource version: ${start} \\(\\d+\\)$`));
});

test('a stopped watch gets nothing more; a listener that throws ends only its own watch', async (t) => {
  const { store } = await suite.open(t);
  const stopped = await recorder(store);
  const failures: Error[] = [];
  const throwing = await store.watch(
    () => {
      throw new Error('listener failed');
    },
    { onError: (error) => failures.push(error) },
  );
  const witness = await recorder(store);
  stopped.stop();
  await store.create(roles, role('a'));
  await store.create(roles, role('b'));
  await until('the witness to see both', () => witness.changes.length === 2);
  t.deepEqual(stopped.changes, []);
  t.deepEqual(
    failures.map((e) => e.message),
    ['listener failed'],
  );
  throwing();
});
