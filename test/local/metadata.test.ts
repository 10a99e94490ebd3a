// Metadata-only reads, as kube-controller-manager's garbage collector and namespace controller send them through
// client-go's metadata client (K8S-WIRE §12): GET, LIST and WATCH answer PartialObjectMetadata(List) in JSON,
// with no spec and no status; the protobuf clause first in Accept is passed over.
import test from 'ava';
import { startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { rawClient, rawWatch, type RawRequest, type WatchEvent } from '../support/rawclient.ts';

// The Accept headers of client-go's metadata client (k8s.io/client-go/metadata/metadata.go), verbatim.
const asObject =
  'application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
const asList =
  'application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

const group = '/apis/postgres.databases.dinhloc.dev/v1alpha1';
const paths = {
  databasecluster: `${group}/databaseclusters/main-cluster`,
  database: `${group}/namespaces/default/databases/my-app-db`,
  databaserole: `${group}/namespaces/default/databaseroles/app-user`,
};

let local: LocalServer;
let request: RawRequest;
test.before(async () => {
  local = await startLocalWithGuide();
  request = rawClient(local.kubeconfig);
});
test.after.always(async () => local?.stop());

const get = (path: string, accept: string) => request(path, 'GET', undefined, undefined, { Accept: accept });

for (const [kind, path] of Object.entries(paths)) {
  test(`GET of a ${kind} as PartialObjectMetadata answers its metadata only`, async (t) => {
    const full = (await get(path, 'application/json')).json();
    t.truthy(full.spec, 'the full object has a spec');
    const response = await get(path, asObject);
    t.is(response.status, 200, response.text);
    t.regex(String(response.headers['content-type']), /^application\/json/);
    const partial = response.json();
    t.deepEqual(Object.keys(partial).sort(), ['apiVersion', 'kind', 'metadata']);
    t.like(partial, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' });
    t.is(partial.metadata.name, full.metadata.name);
    t.is(partial.metadata.uid, full.metadata.uid);
    t.truthy(partial.metadata.resourceVersion);
    t.truthy(partial.metadata.creationTimestamp);
  });
}

test('v1beta1 is served too, and kubectl get still gets a Table', async (t) => {
  const beta = (await get(paths.database, 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1')).json();
  t.like(beta, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1beta1', metadata: { name: 'my-app-db' } });
  const table = (await get(paths.database, 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json')).json();
  t.is(table.kind, 'Table');
});

test('LIST as PartialObjectMetadataList answers the items metadata with the list resourceVersion', async (t) => {
  for (const resource of ['databases', 'databaseroles', 'databaseclusters']) {
    const response = await get(`${group}/${resource}`, asList);
    t.is(response.status, 200, response.text);
    const list = response.json();
    t.like(list, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1' });
    t.regex(list.metadata.resourceVersion, /^\d+$/);
    t.is(list.items.length, 1, resource);
    for (const item of list.items) {
      t.deepEqual(Object.keys(item).sort(), ['apiVersion', 'kind', 'metadata']);
      t.like(item, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' });
    }
  }
});

test('LIST as PartialObjectMetadataList pages with limit and continue, also for the core kinds local mode serves', async (t) => {
  const first = (await get('/api/v1/namespaces/default/secrets?limit=1', asList)).json();
  t.like(first, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1' });
  t.is(first.items.length, 1);
  t.truthy(first.metadata.continue, JSON.stringify(first.metadata));
  t.is(first.items[0].data, undefined, 'no Secret data in metadata');
  const second = (
    await get(`/api/v1/namespaces/default/secrets?limit=1&continue=${encodeURIComponent(first.metadata.continue)}`, asList)
  ).json();
  t.is(second.items.length, 1);
  t.not(second.items[0].metadata.name, first.items[0].metadata.name);
});

test('PartialObjectMetadata of a list, or PartialObjectMetadataList of one object, is 406 NotAcceptable', async (t) => {
  const list = await get(`${group}/databases`, 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1');
  t.is(list.status, 406);
  t.like(list.json(), { kind: 'Status', reason: 'NotAcceptable', code: 406 });
  const one = await get(paths.database, 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');
  t.is(one.status, 406);
  t.regex(one.json().message, /you requested PartialObjectMetadataList, but the requested object is not a list/);
});

test('WATCH as PartialObjectMetadata sends metadata-only events: the initial ones, the bookmark that ends them, and changes', async (t) => {
  const watch = rawWatch(
    local.kubeconfig,
    `${group}/namespaces/default/databases?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
    { Accept: asObject },
  );
  t.teardown(() => watch.stop());
  t.regex(await watch.contentType, /^application\/json/);
  const initial = await watch.until((events) => events.some((e) => e.type === 'BOOKMARK'));
  t.like(initial[0], {
    type: 'ADDED',
    object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'my-app-db' } },
  });
  // A status persisted meanwhile may follow the bookmark in the same read: the initial events end at it.
  t.like(
    initial.find((e) => e.type === 'BOOKMARK'),
    {
      type: 'BOOKMARK',
      object: {
        kind: 'PartialObjectMetadata',
        apiVersion: 'meta.k8s.io/v1',
        metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } },
      },
    },
  );

  t.is((await local.kubectl(['label', 'pgdb', 'my-app-db', 'watched=yes'])).code, 0);
  // Other reads may persist a live status meanwhile (MODIFIED too): the labelled one must come.
  const labelled = (e: WatchEvent) =>
    e.type === 'MODIFIED' && (e.object.metadata as { labels?: Record<string, string> }).labels?.watched === 'yes';
  const events = await watch.until((all) => all.some(labelled));
  t.like(events.find(labelled)!.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'my-app-db' } });
  for (const event of events) t.deepEqual(Object.keys(event.object).sort(), ['apiVersion', 'kind', 'metadata'], event.type);
});
