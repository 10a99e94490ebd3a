// A live status found by many concurrent reads is stored once: the reads share one update and all answer the
// stored object, rather than one update winning and the others failing on a Conflict.
import test from 'ava';
import { persistStatus, type Dependencies } from '../../reconcile/kinds/shared.ts';
import { ObjectStore } from '../../storage/objects/store.ts';
import { startTestServer, unique, type TestServer } from '../support/postgres.ts';
import type { KubeObject } from '../../openapi/objects.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer('pg17');
});
test.after.always(async () => server?.stop());

const resource = 'example.dev/widgets';

test('20 reads persisting the same status for one object make one update, and every read answers the stored object', async (t) => {
  const store = await ObjectStore.open(server.superuserDsn, { schema: unique('persist') });
  t.teardown(() => store.close());
  const events: string[] = [];
  const deps = { store, events: { record: (_o: KubeObject, _type: string, reason: string) => void events.push(reason) } };
  const created = await store.create(resource, {
    apiVersion: 'example.dev/v1',
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'default' },
  });
  const status = { exists: true, drift: [{ kind: 'role', attribute: 'login', expected: 'true', actual: 'false' }] };
  const read: KubeObject = { ...created, status: { exists: true } };
  const updated = await store.update(resource, read);

  const answers = await Promise.all(
    Array.from({ length: 20 }, () => persistStatus(deps as unknown as Dependencies, resource, updated, status)),
  );

  const stored = await store.get(resource, 'default', 'w');
  t.deepEqual(stored.status, status);
  t.deepEqual(new Set(answers.map((a) => a.metadata.resourceVersion)), new Set([stored.metadata.resourceVersion]));
  t.is((await store.changesSince(String(updated.metadata.resourceVersion))).length, 1, 'one update');
  t.deepEqual(events, ['DriftDetected'], 'the drift is told once');
});

test('a status persisted again after the first update settled is a new update (nothing is kept once done)', async (t) => {
  const store = await ObjectStore.open(server.superuserDsn, { schema: unique('persist') });
  t.teardown(() => store.close());
  const deps = { store, events: { record: () => undefined } } as unknown as Dependencies;
  const created = await store.create(resource, {
    apiVersion: 'example.dev/v1',
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'default' },
  });
  const first = await persistStatus(deps, resource, created, { phase: 'a' });
  const back = await store.update(resource, { ...first, status: { phase: 'b' } });
  const again = await persistStatus(deps, resource, back, { phase: 'a' });
  t.not(again.metadata.resourceVersion, back.metadata.resourceVersion);
  t.deepEqual((await store.get(resource, 'default', 'w')).status, { phase: 'a' });
});
