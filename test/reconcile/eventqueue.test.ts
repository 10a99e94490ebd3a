// Events are sent in the background, in order, as client-go's recorder sends them: a write does not wait for its
// Event to be stored, a flood of Events cannot grow memory without bound, and a stopping server gives what is
// still queued a short time and no more.
import test from 'ava';
import { eventQueueCapacity, eventsResource, queuedEvents, storeEvents, type EventRecorder } from '../../storage/kubernetes/events.ts';
import { ObjectStore } from '../../storage/objects/store.ts';
import type { ResourceStore } from '../../storage/objects/types.ts';
import { startTestServer, unique, type TestServer } from '../support/postgres.ts';
import type { KubeObject } from '../../openapi/objects.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer('pg17');
});
test.after.always(async () => server?.stop());

const role: KubeObject = {
  apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
  kind: 'DatabaseRole',
  metadata: { name: 'app', namespace: 'team-a', uid: 'u-app', resourceVersion: '12' },
};

/** A recorder that sends nothing until `open()`: what it was given, in order. */
function gatedRecorder(): EventRecorder & { sent: string[]; open(): void } {
  const sent: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((done) => (open = done));
  return {
    sent,
    open,
    async record(_object, _type, _reason, message) {
      await gate;
      sent.push(message);
    },
  };
}

test('Events recorded one after another are stored in the object store in that order, each once', async (t) => {
  const store = await ObjectStore.open(server.superuserDsn, { schema: unique('events') });
  t.teardown(() => store.close());
  const drops: number[] = [];
  const events = queuedEvents(
    storeEvents(store, (error) => t.fail(String(error))),
    (count) => drops.push(count),
  );
  const messages = ['applied 1 statement: creating role "app"', 'first drift', 'second drift', 'third drift'];
  for (const message of messages) events.record(role, 'Normal', 'Applied', message);
  await events.drain(30_000);
  const stored = await store.find(eventsResource, ['involvedObject', 'uid'], ['u-app']);
  const byVersion = stored.sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
  t.deepEqual(
    byVersion.map((e) => e.message),
    messages,
  );
  t.deepEqual(drops, []);
});

test('record returns before the Event is sent: a write never waits on the Events API', (t) => {
  const recorder = gatedRecorder();
  const events = queuedEvents(recorder, () => t.fail('nothing is dropped'));
  events.record(role, 'Normal', 'Applied', 'one');
  t.deepEqual(recorder.sent, [], 'the recorder is still waiting, and record has returned');
});

test('sending begins once the turn that recorded is done: an answer that turn writes goes first', async (t) => {
  const sent: string[] = [];
  const events = queuedEvents(
    {
      async record(_object, _type, _reason, message) {
        sent.push(message);
      },
    },
    () => t.fail('nothing is dropped'),
  );
  events.record(role, 'Normal', 'Applied', 'one');
  await Promise.resolve();
  t.deepEqual(sent, [], 'nothing within the turn, its promises included');
  await new Promise((done) => setImmediate(done));
  t.deepEqual(sent, ['one']);
});

test('a flood of Events beyond the queue is dropped, not kept: the first ones are sent and the drop is reported once', async (t) => {
  const recorder = gatedRecorder();
  const drops: number[] = [];
  const events = queuedEvents(recorder, (count) => drops.push(count));
  const total = eventQueueCapacity + 50;
  for (let i = 0; i < total; i++) events.record(role, 'Warning', 'DriftDetected', `drift ${i}`);
  recorder.open();
  await events.drain(30_000);
  // Recorded in one turn, before the first is sent: the queue holds them all up to its capacity.
  const sent = eventQueueCapacity;
  t.deepEqual(
    recorder.sent,
    Array.from({ length: sent }, (_, i) => `drift ${i}`),
  );
  t.deepEqual(drops, [total - sent]);
});

test('a stopping server waits for queued Events only its drain time, then drops them, and later ones too', async (t) => {
  const recorder = gatedRecorder();
  const drops: number[] = [];
  const events = queuedEvents(recorder, (count) => drops.push(count));
  for (let i = 0; i < 3; i++) events.record(role, 'Normal', 'Applied', `event ${i}`);
  const started = Date.now();
  await events.drain(50);
  t.true(Date.now() - started < 10_000, 'drain did not wait for a recorder that never answers');
  t.deepEqual(drops, [2], 'the two queued behind the one in flight are dropped');
  events.record(role, 'Normal', 'Applied', 'after the stop');
  recorder.open();
  await new Promise((done) => setImmediate(done));
  t.deepEqual(recorder.sent, ['event 0'], 'only the Event already in flight was sent');
});

/** The store, counting its reads: a first Event must cost none. */
function countingReads(store: ObjectStore): { store: ResourceStore; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (property === 'get' || property === 'find' || property === 'list') reads++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: counted, reads: () => reads };
}

test('the same Event again is counted on the one recorded before, and a first Event reads nothing from the store', async (t) => {
  const opened = await ObjectStore.open(server.superuserDsn, { schema: unique('events') });
  t.teardown(() => opened.close());
  const { store, reads } = countingReads(opened);
  const recorder = storeEvents(store, (error) => t.fail(String(error)));
  await recorder.record(role, 'Warning', 'DriftDetected', 'a REVOKE by hand');
  await recorder.record(role, 'Normal', 'Applied', 'applied 1 statement');
  t.is(reads(), 0, 'two first Events: nothing read');
  await recorder.record(role, 'Warning', 'DriftDetected', 'a REVOKE by hand');
  await recorder.record(role, 'Warning', 'DriftDetected', 'a REVOKE by hand');
  const stored = await opened.find(eventsResource, ['involvedObject', 'uid'], ['u-app']);
  t.deepEqual(stored.map((e) => [e.reason, e.count]).sort(), [
    ['Applied', 1],
    ['DriftDetected', 3],
  ]);
});

test('an Event gone from the store, or forgotten past the newest ones remembered, is recorded anew', async (t) => {
  const store = await ObjectStore.open(server.superuserDsn, { schema: unique('events') });
  t.teardown(() => store.close());
  const recorder = storeEvents(store, (error) => t.fail(String(error)), 2);
  const counts = async (message: string) =>
    (await store.find(eventsResource, ['involvedObject', 'uid'], ['u-app']))
      .filter((e) => e.message === message)
      .map((e) => e.count)
      .sort();
  await recorder.record(role, 'Normal', 'Applied', 'one');
  const [first] = await store.find(eventsResource, ['involvedObject', 'uid'], ['u-app']);
  await store.delete(eventsResource, first!.metadata.namespace!, first!.metadata.name); // as retention removes old Events
  await recorder.record(role, 'Normal', 'Applied', 'one');
  t.deepEqual(await counts('one'), [1]);
  // Two others come after it: "one" is forgotten, and its repeat is a new Event.
  await recorder.record(role, 'Normal', 'Applied', 'two');
  await recorder.record(role, 'Normal', 'Applied', 'three');
  await recorder.record(role, 'Normal', 'Applied', 'one');
  t.deepEqual(await counts('one'), [1, 1]);
  // The newest ones are still counted on.
  await recorder.record(role, 'Normal', 'Applied', 'three');
  t.deepEqual(await counts('three'), [2]);
});
