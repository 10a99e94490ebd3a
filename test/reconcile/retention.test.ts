// The store's retention against a real store: the change log keeps its newest changes, Events go an hour
// after they last happened (local mode), and only the leader does either.
import test from 'ava';
import { pino } from 'pino';
import { Retention } from '../../reconcile/retention.ts';
import { Expired } from '../../storage/objects/store.ts';
import { role, roles, storeSuite } from '../objects/support.ts';
import { eventually } from '../support/local.ts';

const suite = storeSuite(test);
const log = pino({ level: 'silent' });
const hour = 60 * 60_000;

function event(name: string, lastTimestamp: string) {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace: 'default' },
    reason: 'Applied',
    message: 'applied',
    lastTimestamp,
  };
}

test('a round keeps the newest changes and the Events of the last hour', async (t) => {
  const { store } = await suite.open(t);
  const first = await store.create(roles, role('a'));
  for (const name of ['b', 'c', 'd']) await store.create(roles, role(name));
  const now = Date.parse('2026-11-27T12:00:00Z');
  await store.create('/events', event('old', new Date(now - 2 * hour).toISOString()));
  await store.create('/events', event('recent', new Date(now - hour / 2).toISOString()));
  await new Retention(store, { changesKept: 2, eventTtlMs: hour, everyMs: 60_000 }, () => true, log).once(now);
  t.deepEqual(
    (await store.list('/events', {})).items.map((e) => e.metadata.name),
    ['recent'],
  );
  await t.throwsAsync(
    store.changesSince(first.metadata.resourceVersion!),
    { instanceOf: Expired },
    'changes before the newest two are gone',
  );
  t.is((await store.list(roles, {})).items.length, 4, 'objects themselves stay');
});

test('without an Event lifetime (a cluster keeps its own Events) no Event is touched', async (t) => {
  const { store } = await suite.open(t);
  await store.create('/events', event('old', '2000-01-01T00:00:00Z'));
  await new Retention(store, { changesKept: 10, everyMs: 60_000 }, () => true, log).once();
  t.is((await store.list('/events', {})).items.length, 1);
});

test('a replica that does not lead runs no round', async (t) => {
  const { store } = await suite.open(t);
  await store.create('/events', event('old', '2000-01-01T00:00:00Z'));
  const follower = new Retention(store, { changesKept: 0, eventTtlMs: hour, everyMs: 20 }, () => false, log);
  let turns = 0;
  follower.start(() => (turns += 1));
  // Turns in which a leader would have run a round; stop() waits for a round under way.
  t.true(await eventually(() => turns >= 5, 30_000), 'the follower turned');
  await follower.stop();
  t.is((await store.list('/events', {})).items.length, 1);
  const leader = new Retention(store, { changesKept: 0, eventTtlMs: hour, everyMs: 20 }, () => true, log);
  leader.start();
  t.teardown(() => leader.stop());
  t.true(await eventually(async () => (await store.list('/events', {})).items.length === 0), 'the leader does');
});
