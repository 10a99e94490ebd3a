// The REST verbs over the real object store (PostgreSQL), for a small kind made for the test: every verb,
// every reject path with its code, and watch.
import { request } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import test from 'ava';
import { storeResource, type ResourceKind } from '../../reconcile/kinds/resource.ts';
import { ageColumn, nameColumn } from '../../openapi/kind.ts';
import { serveKinds } from '../support/apiserver.ts';
import type { ObjectStore } from '../../storage/objects/store.ts';
import type { ResourceStore } from '../../storage/objects/types.ts';
import type { RequestOptions } from '../support/http.ts';
import { startTestServer, type TestServer } from '../support/postgres.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { FieldError } from '../../openapi/fields.ts';

const colors = ['red', 'blue'];

const widgets: ResourceKind = {
  group: 'example.dev',
  version: 'v1',
  kind: 'Widget',
  plural: 'widgets',
  singular: 'widget',
  namespaced: true,
  statusSubresource: true,
  columns: [
    nameColumn,
    { name: 'Size', type: 'integer', priority: 0, description: 'How big.', cell: (o) => (o.spec as { size?: number }).size ?? null },
    ageColumn,
  ],
  strategy: {
    unknownFields: (o) =>
      Object.keys((o.spec ?? {}) as object)
        .filter((k) => k !== 'size' && k !== 'color')
        .map((k) => `spec.${k}`),
    prune: (o) => ({ ...o, spec: Object.fromEntries(Object.entries(o.spec as object).filter(([k]) => k === 'size' || k === 'color')) }),
    withDefaults: (o) => ({ ...o, spec: { color: 'red', ...(o.spec as object) } }),
    validate: (o, old) => {
      const spec = (o.spec ?? {}) as { size?: unknown; color?: unknown };
      const errors: FieldError[] = [];
      if (!Number.isInteger(spec.size)) errors.push({ type: 'FieldValueRequired', field: 'spec.size', message: 'Required value' });
      if (!colors.includes(spec.color as string))
        errors.push({ type: 'FieldValueNotSupported', field: 'spec.color', message: `Unsupported value: ${JSON.stringify(spec.color)}` });
      if (old && (old.spec as { color?: string }).color !== spec.color)
        errors.push({ type: 'FieldValueInvalid', field: 'spec.color', message: 'Invalid value: field is immutable' });
      return errors;
    },
  },
};

let server: TestServer;
test.before(async () => {
  server = await startTestServer('pg17');
});
test.after.always(async () => server?.stop());

function serve(t: { teardown(fn: () => unknown): void }) {
  return serveKinds(t, server.superuserDsn, [widgets]);
}

const collection = '/apis/example.dev/v1/namespaces/default/widgets';
const widget = (name: string, spec: Record<string, unknown> = { size: 1 }, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'example.dev/v1',
  kind: 'Widget',
  metadata: { name, labels: { app: name } },
  spec,
  ...extra,
});

test('create answers 201 with generation 1, defaults, and no status; get reads it back', async (t) => {
  const { call } = await serve(t);
  const fromClient = widget('a', { size: 2 }, { status: { phase: 'ignored' } });
  fromClient.metadata.uid = 'chosen-by-the-client';
  const created = await call('POST', collection, fromClient);
  t.is(created.status, 201);
  const body = created.json();
  t.not(body.metadata.uid, 'chosen-by-the-client', 'the server names the uid');
  t.like(body, { metadata: { name: 'a', namespace: 'default', generation: 1 }, spec: { size: 2, color: 'red' } });
  t.false('status' in body);
  t.truthy(body.metadata.uid);
  t.deepEqual((await call('GET', `${collection}/a`)).json(), body);
});

const rejects: [string, () => [string, string, unknown, RequestOptions?], number, RegExp][] = [
  ['malformed JSON', () => ['POST', collection, '{"apiVersion": '], 400, /could not be decoded/],
  [
    'malformed YAML',
    () => ['POST', collection, 'apiVersion: example.dev/v1\nkind: [Widget\n', { headers: { 'content-type': 'application/yaml' } }],
    400,
    /could not be decoded/,
  ],
  [
    'a body in an unknown format',
    () => ['POST', collection, '<widget/>', { headers: { 'content-type': 'application/xml' } }],
    415,
    /unknown format/,
  ],
  [
    'a wrong apiVersion',
    () => ['POST', collection, { ...widget('x'), apiVersion: 'example.dev/v2' }],
    400,
    /do not match the expected example.dev\/v1, Kind=Widget/,
  ],
  ['a wrong kind', () => ['POST', collection, { ...widget('x'), kind: 'Gadget' }], 400, /do not match/],
  [
    'a missing required field',
    () => ['POST', collection, widget('x', {})],
    422,
    /Widget.example.dev "x" is invalid: spec.size: Required value/,
  ],
  [
    'an unknown field under Strict',
    () => ['POST', `${collection}?fieldValidation=Strict`, widget('x', { size: 1, shape: 'round' })],
    400,
    /strict decoding error: unknown field "spec.shape"/,
  ],
  [
    'a namespace that differs from the path',
    () => ['POST', collection, { ...widget('x'), metadata: { name: 'x', namespace: 'other' } }],
    400,
    /does not match the namespace/,
  ],
  ['an unknown dryRun value', () => ['POST', `${collection}?dryRun=Some`, widget('x')], 422, /dryRun: Unsupported value/],
  [
    'an oversized body',
    () => ['POST', collection, JSON.stringify({ ...widget('x'), pad: 'x'.repeat(3 * 1024 * 1024) })],
    413,
    /larger than/,
  ],
  [
    'a strategic merge patch',
    () => ['PATCH', `${collection}/x`, {}, { headers: { 'content-type': 'application/strategic-merge-patch+json' } }],
    415,
    /accepted media types include: application\/json-patch\+json, application\/merge-patch\+json/,
  ],
  [
    'labels nested 5,000 deep',
    () => [
      'POST',
      collection,
      `{"apiVersion":"example.dev/v1","kind":"Widget","metadata":{"name":"x","labels":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}},"spec":{"size":1}}`,
    ],
    400,
    /nested deeper than 100/,
  ],
  ['a NUL in the name', () => ['POST', collection, widget('a\u0000b')], 400, /NUL character/],
  ['a NUL in the name on the URL', () => ['GET', `${collection}/a%00b`, undefined], 404, /not found/],
  ['limit=1e99', () => ['GET', `${collection}?limit=1e99`, undefined], 400, /invalid value for limit/],
  [
    'a get of a missing object',
    () => ['GET', `${collection}/missing`, undefined],
    404,
    /widgets.example.dev "default\/missing" not found|widgets.example.dev "missing" not found/,
  ],
];

for (const [title, make, code, message] of rejects) {
  test(`${title} is refused with ${code} and nothing is stored`, async (t) => {
    const { call } = await serve(t);
    const [method, path, body, options] = make();
    const res = await call(method, path, body, options);
    t.is(res.status, code, res.text.slice(0, 300));
    t.like(res.json(), { kind: 'Status', status: 'Failure', code });
    t.regex(res.json().message, message);
    t.deepEqual((await call('GET', collection)).json().items, []);
  });
}

test('an invalid object names every field in the causes', async (t) => {
  const { call } = await serve(t);
  const res = await call('POST', collection, widget('x', { color: 'green' }));
  t.deepEqual(res.json().details.causes, [
    { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.size' },
    { reason: 'FieldValueNotSupported', message: 'Unsupported value: "green"', field: 'spec.color' },
  ]);
});

test('a duplicate name is 409 AlreadyExists', async (t) => {
  const { call } = await serve(t);
  await call('POST', collection, widget('a'));
  const res = await call('POST', collection, widget('a'));
  t.is(res.status, 409);
  t.is(res.json().reason, 'AlreadyExists');
});

test('an unknown field under Warn (the default) is stored without it, with a Warning header', async (t) => {
  const { call } = await serve(t);
  const res = await call('POST', collection, widget('a', { size: 1, shape: 'round' }));
  t.is(res.status, 201);
  t.is(res.headers.warning, '299 - "unknown field \\"spec.shape\\""');
  t.false('shape' in res.json().spec);
});

test('an unknown field named beyond Latin-1 (€) is warned about after a 201, in ASCII that kubectl shows as \\u20ac', async (t) => {
  const { call } = await serve(t);
  const res = await call('POST', collection, widget('euro', { size: 1, '€': 1, é: 2 }));
  t.is(res.status, 201, res.text);
  t.is(res.headers.warning, '299 - "unknown field \\"spec.\\\\u20ac\\"", 299 - "unknown field \\"spec.\\\\u00e9\\""');
});

test('a write whose live status cannot be read afterwards answers the stored object with a Warning, never an error', async (t) => {
  const failingReads: ResourceKind = {
    ...widgets,
    strategy: {
      ...widgets.strategy,
      decorate: async () => {
        throw new Error('the store went away');
      },
    },
  };
  const { call } = await serveKinds(t, server.superuserDsn, [failingReads]);
  const res = await call('POST', collection, widget('stored'));
  t.is(res.status, 201, res.text);
  t.like(res.json(), { metadata: { name: 'stored' }, spec: { size: 1 } });
  t.is(res.headers.warning, '299 - "the write is done, but its live status could not be read: the store went away"');
});

test('a create answers before the status its write recorded is stored; reads and writes of the object wait for it', async (t) => {
  const recording: ResourceKind = {
    ...widgets,
    strategy: {
      ...widgets.strategy,
      admit: async () => ({
        claims: [],
        write: async (stored) => ({ object: { ...stored, status: { recorded: 'yes' } }, statusIsLive: true }),
      }),
    },
  };
  // The store's updates wait until the test lets them through: the status is stored only then. Each notes
  // whether the create's answer had been written when it began.
  let release: () => void = () => undefined;
  const updatesLetThrough = new Promise<void>((resolve) => (release = resolve));
  let createAnswer: ServerResponse | undefined;
  const answeredBeforeUpdate: boolean[] = [];
  const held = (store: ObjectStore): ResourceStore =>
    new Proxy(store, {
      get(target, property) {
        if (property === 'update')
          return async (...args: Parameters<ObjectStore['update']>) => {
            answeredBeforeUpdate.push(createAnswer?.writableEnded === true);
            await updatesLetThrough;
            return target.update(...args);
          };
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  const { call, store, app } = await serveKinds(t, server.superuserDsn, [recording], held);
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'POST') createAnswer = response;
  });
  const { resourceVersion } = (await call('GET', collection)).json().metadata;
  const { opened, events } = openWatch(app.base, app.tls.ca, `${collection}?watch=1&resourceVersion=${resourceVersion}`, 3);
  await Promise.race([opened, events]);
  const created = await call('POST', collection, widget('a'));
  t.is(created.status, 201, created.text);
  t.like(created.json(), { metadata: { name: 'a' }, status: { recorded: 'yes' } });
  const answered: string[] = [];
  const read = call('GET', `${collection}/a`).then((r) => (answered.push('get'), r));
  const listed = call('GET', collection).then((r) => (answered.push('list'), r));
  const patched = call(
    'PATCH',
    `${collection}/a`,
    { spec: { size: 2 } },
    { headers: { 'content-type': 'application/merge-patch+json' } },
  ).then((r) => (answered.push('patch'), r));
  // Another object is read at once meanwhile.
  t.is((await call('GET', `${collection}/b`)).status, 404);
  t.deepEqual(answered, []);
  t.is((await store.get(storeResource(recording), 'default', 'a')).status, undefined);
  t.deepEqual(answeredBeforeUpdate, [true], 'the answer was written before the status began to be stored');
  release();
  t.like((await read).json(), { status: { recorded: 'yes' } });
  t.like((await listed).json().items[0], { metadata: { name: 'a' }, status: { recorded: 'yes' } });
  t.is((await patched).status, 200, (await patched).text);
  t.like((await store.get(storeResource(recording), 'default', 'a')).status, { recorded: 'yes' });
  // Watchers saw the object stored, then its status, then the patch.
  t.deepEqual(
    (await events).map((e) => [e.type, e.object.spec.size, e.object.status?.recorded]),
    [
      ['ADDED', 1, undefined],
      ['MODIFIED', 1, 'yes'],
      ['MODIFIED', 2, 'yes'],
    ],
  );
});

test('dryRun=All validates and answers, and stores nothing', async (t) => {
  const { call } = await serve(t);
  t.is((await call('POST', `${collection}?dryRun=All`, widget('a'))).status, 201);
  t.is((await call('GET', `${collection}/a`)).status, 404);
});

test('update needs the current resourceVersion; generation moves with the spec only; status is kept', async (t) => {
  const { call } = await serve(t);
  const created = (await call('POST', collection, widget('a'))).json();
  const missing = await call('PUT', `${collection}/a`, { ...created, metadata: { ...created.metadata, resourceVersion: undefined } });
  t.is(missing.status, 422);
  t.regex(missing.json().message, /metadata.resourceVersion: Invalid value: 0x0: must be specified for an update/);

  const withStatus = (await call('PUT', `${collection}/a/status`, { ...created, status: { phase: 'Ready' } })).json();
  t.deepEqual(withStatus.status, { phase: 'Ready' });
  t.is(withStatus.metadata.generation, 1, 'a status write leaves generation alone');

  const relabelled = (
    await call('PUT', `${collection}/a`, {
      ...withStatus,
      metadata: { ...withStatus.metadata, labels: { app: 'b' } },
      status: { phase: 'overwritten?' },
    })
  ).json();
  t.is(relabelled.metadata.generation, 1);
  t.deepEqual(relabelled.status, { phase: 'Ready' }, 'an update of the main resource keeps the status');
  const resized = (await call('PUT', `${collection}/a`, { ...relabelled, spec: { ...relabelled.spec, size: 5 } })).json();
  t.is(resized.metadata.generation, 2);
  const withoutDefaults = (await call('PUT', `${collection}/a`, { ...resized, spec: { size: 5 } })).json();
  t.is(withoutDefaults.metadata.generation, 2, 'a spec its defaults complete into the stored one is no change');

  const stale = await call('PUT', `${collection}/a`, { ...relabelled, spec: { ...relabelled.spec, size: 6 } });
  t.is(stale.status, 409);
  t.regex(stale.json().message, /Operation cannot be fulfilled on widgets.example.dev "a": the object has been modified/);
  const immutable = await call('PUT', `${collection}/a`, { ...withoutDefaults, spec: { ...withoutDefaults.spec, color: 'blue' } });
  t.is(immutable.status, 422);
});

test('merge patch and JSON patch apply to the stored object', async (t) => {
  const { call } = await serve(t);
  await call('POST', collection, widget('a'));
  const merged = await call(
    'PATCH',
    `${collection}/a`,
    { metadata: { labels: { tier: 'x' } }, spec: { size: 3 } },
    { headers: { 'content-type': 'application/merge-patch+json' } },
  );
  t.is(merged.status, 200);
  t.like(merged.json(), { metadata: { labels: { app: 'a', tier: 'x' }, generation: 2 }, spec: { size: 3, color: 'red' } });
  const patched = await call('PATCH', `${collection}/a`, [{ op: 'replace', path: '/spec/size', value: 4 }], {
    headers: { 'content-type': 'application/json-patch+json' },
  });
  t.like(patched.json(), { spec: { size: 4 } });
  const failing = await call('PATCH', `${collection}/a`, [{ op: 'test', path: '/spec/size', value: 99 }], {
    headers: { 'content-type': 'application/json-patch+json' },
  });
  t.is(failing.status, 422);
});

test('a patch overtaken by a status write between its read and its write is stored over it; one naming a resourceVersion is a 409', async (t) => {
  // Admission of the next update stores a status first, as a live read may persist one at any moment.
  const overtaken = { next: false };
  const served: { store?: ObjectStore } = {};
  const racing: ResourceKind = {
    ...widgets,
    strategy: {
      ...widgets.strategy,
      admit: async (_object, old) => {
        if (old && overtaken.next) {
          overtaken.next = false;
          await served.store!.update(storeResource(widgets), { ...old, status: { seen: Date.now() } });
        }
        return { claims: [] };
      },
    },
  };
  const { call, store } = await serveKinds(t, server.superuserDsn, [racing]);
  served.store = store;
  await call('POST', collection, widget('a'));
  const merge = { headers: { 'content-type': 'application/merge-patch+json' } };
  overtaken.next = true;
  const patched = await call('PATCH', `${collection}/a`, { spec: { size: 5 } }, merge);
  t.is(patched.status, 200, patched.text);
  t.like(patched.json(), { spec: { size: 5 } });
  t.false(overtaken.next, 'the status write came between');

  const current = (await call('GET', `${collection}/a`)).json() as KubeObject;
  overtaken.next = true;
  const preconditioned = await call(
    'PATCH',
    `${collection}/a`,
    { metadata: { resourceVersion: current.metadata.resourceVersion }, spec: { size: 6 } },
    merge,
  );
  t.is(preconditioned.status, 409);
  t.like((await call('GET', `${collection}/a`)).json(), { spec: { size: 5 } });
});

test('list filters by label and field selectors, pages with limit and continue, and renders a Table', async (t) => {
  const { call } = await serve(t);
  for (const name of ['c', 'a', 'b']) await call('POST', collection, widget(name));
  const list = (await call('GET', `${collection}?labelSelector=app%20in%20(a,c)`)).json();
  t.is(list.kind, 'WidgetList');
  t.deepEqual(
    list.items.map((o: KubeObject) => o.metadata.name),
    ['a', 'c'],
  );
  t.deepEqual(
    (await call('GET', `/apis/example.dev/v1/widgets?fieldSelector=metadata.name%3Db`))
      .json()
      .items.map((o: KubeObject) => o.metadata.name),
    ['b'],
  );
  const first = (await call('GET', `${collection}?limit=2`)).json();
  const second = (await call('GET', `${collection}?limit=2&continue=${encodeURIComponent(first.metadata.continue)}`)).json();
  t.deepEqual(
    [...first.items, ...second.items].map((o: KubeObject) => o.metadata.name),
    ['a', 'b', 'c'],
  );
  const table = (
    await call('GET', collection, undefined, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } })
  ).json();
  t.is(table.kind, 'Table');
  t.deepEqual(
    table.columnDefinitions.map((c: { name: string }) => c.name),
    ['Name', 'Size', 'Age'],
  );
  t.deepEqual(
    table.rows.map((r: { cells: unknown[] }) => r.cells.slice(0, 2)),
    [
      ['a', 1],
      ['b', 1],
      ['c', 1],
    ],
  );
  t.is(table.rows[0].object.kind, 'PartialObjectMetadata');
});

test('delete answers with the object and it is gone; with a finalizer it is only marked until the finalizer goes', async (t) => {
  const { call } = await serve(t);
  await call('POST', collection, widget('a'));
  const deleted = await call('DELETE', `${collection}/a`);
  t.is(deleted.status, 200);
  t.is(deleted.json().metadata.name, 'a');
  t.is((await call('GET', `${collection}/a`)).status, 404);

  await call('POST', collection, { ...widget('f'), metadata: { name: 'f', finalizers: ['example.dev/hold'] } });
  const marked = (await call('DELETE', `${collection}/f`)).json();
  t.truthy(marked.metadata.deletionTimestamp);
  t.is((await call('GET', `${collection}/f`)).status, 200);
  const released = await call(
    'PATCH',
    `${collection}/f`,
    { metadata: { finalizers: null } },
    { headers: { 'content-type': 'application/merge-patch+json' } },
  );
  t.is(released.status, 200);
  t.is((await call('GET', `${collection}/f`)).status, 404);
});

test("a delete whose reclaim runs while a read persists a live status still goes through (a 409 left a dropped database's object behind)", async (t) => {
  // What a concurrent read does (reads take no lock): persist the object's live status while its drop runs.
  let readMeanwhile: (o: KubeObject) => Promise<unknown> = async () => undefined;
  let dropFails = false;
  const reclaimed: ResourceKind = {
    ...widgets,
    strategy: {
      ...widgets.strategy,
      reclaim: {
        finalizer: 'example.dev/reclaim',
        needed: () => true,
        run: async (o) => {
          await readMeanwhile(o);
          if (dropFails) throw new Error('cannot drop yet');
        },
      },
    },
  };
  const { call, store } = await serveKinds(t, server.superuserDsn, [reclaimed]);
  readMeanwhile = (o) =>
    store.update(
      storeResource(reclaimed),
      { ...o, status: { seen: Date.now() } },
      { expectedResourceVersion: String(o.metadata.resourceVersion) },
    );
  await call('POST', collection, widget('dropped'));
  t.is((await call('DELETE', `${collection}/dropped`)).status, 200);
  t.is((await call('GET', `${collection}/dropped`)).status, 404);

  dropFails = true;
  await call('POST', collection, widget('kept'));
  const marked = await call('DELETE', `${collection}/kept`);
  t.is(marked.status, 200, marked.text);
  t.truthy(marked.json().metadata.deletionTimestamp);
});

test('deletecollection removes what the selector matches', async (t) => {
  const { call } = await serve(t);
  for (const name of ['a', 'b']) await call('POST', collection, widget(name));
  const res = (await call('DELETE', `${collection}?labelSelector=app%3Da`)).json();
  t.deepEqual(
    res.items.map((o: KubeObject) => o.metadata.name),
    ['a'],
  );
  t.deepEqual(
    (await call('GET', collection)).json().items.map((o: KubeObject) => o.metadata.name),
    ['b'],
  );
});

type WatchEvents = Promise<{ type: string; object: Record<string, any> }[]>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Reads watch events until `count` arrived (or the deadline), then closes the stream. */
function watchEvents(base: string, ca: string, path: string, count: number, accept = 'application/json'): WatchEvents {
  return openWatch(base, ca, path, count, accept).events;
}

/** watchEvents, and `opened`: the server has answered the watch's headers (it is established). */
function openWatch(
  base: string,
  ca: string,
  path: string,
  count: number,
  accept = 'application/json',
): { opened: Promise<void>; events: WatchEvents } {
  let answered: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (answered = resolve));
  const collected: WatchEvents = new Promise((resolve, reject) => {
    const events: { type: string; object: Record<string, any> }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    const req = request(`${base}${path}`, { ca, headers: { accept } }, (res) => {
      answered();
      let buffer = '';
      const done = () => {
        clearTimeout(deadline);
        req.destroy();
        resolve(events);
      };
      const deadline = setTimeout(done, 10_000);
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buffer.slice(0, newline)));
          buffer = buffer.slice(newline + 1);
          if (events.length >= count) done();
        }
      });
      res.on('end', done);
    });
    req.on('error', (error) => (events.length >= count ? undefined : reject(error)));
    req.end();
  });
  return { opened, events: collected };
}

test('watch from a list resourceVersion delivers ADDED, MODIFIED and DELETED in order', async (t) => {
  const { call, app } = await serve(t);
  const { resourceVersion } = (await call('GET', collection)).json().metadata;
  const { opened, events } = openWatch(app.base, app.tls.ca, `${collection}?watch=1&resourceVersion=${resourceVersion}`, 3);
  await Promise.race([opened, events]);
  await call('POST', collection, widget('a'));
  await call('PATCH', `${collection}/a`, { spec: { size: 9 } }, { headers: { 'content-type': 'application/merge-patch+json' } });
  await call('DELETE', `${collection}/a`);
  t.deepEqual(
    (await events).map((e) => [e.type, e.object.metadata.name, e.object.spec.size]),
    [
      ['ADDED', 'a', 1],
      ['MODIFIED', 'a', 9],
      ['DELETED', 'a', 9],
    ],
  );
});

test('watch with sendInitialEvents sends the current objects, then the initial-events-end bookmark', async (t) => {
  const { call, app } = await serve(t);
  await call('POST', collection, widget('a'));
  const events = await watchEvents(
    app.base,
    app.tls.ca,
    `${collection}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
    2,
  );
  t.deepEqual(
    events.map((e) => e.type),
    ['ADDED', 'BOOKMARK'],
  );
  t.deepEqual(events[1]!.object.metadata.annotations, { 'k8s.io/initial-events-end': 'true' });
  const refused = await call('GET', `${collection}?watch=1&sendInitialEvents=true`);
  t.is(refused.status, 422);
});

test('a Table row holds what includeObject asks for, in the Table’s group version; an unknown value is a 400 before any live status is read', async (t) => {
  let decorated = 0;
  const decorating: ResourceKind = {
    ...widgets,
    strategy: { ...widgets.strategy, decorate: async (objects) => ((decorated += objects.length), objects) },
  };
  const { call } = await serveKinds(t, server.superuserDsn, [decorating]);
  await call('POST', collection, widget('a'));
  const table = async (query: string, version = 'v1') =>
    call('GET', `${collection}${query}`, undefined, { headers: { accept: `application/json;as=Table;v=${version};g=meta.k8s.io` } });
  const rowObject = async (query: string, version?: string) => (await table(query, version)).json().rows[0].object;
  t.like(await rowObject(''), { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'a' } });
  t.false('spec' in (await rowObject('?includeObject=Metadata')));
  t.like(await rowObject('?includeObject=Object'), { kind: 'Widget', apiVersion: 'example.dev/v1', spec: { size: 1 } });
  t.is(await rowObject('?includeObject=None'), undefined);
  const beta = (await table('', 'v1beta1')).json();
  t.is(beta.apiVersion, 'meta.k8s.io/v1beta1');
  t.is(beta.rows[0].object.apiVersion, 'meta.k8s.io/v1beta1');
  const decoratedBefore = decorated;
  for (const path of ['', '/a']) {
    const refused = await call('GET', `${collection}${path}?includeObject=All`, undefined, {
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    t.is(refused.status, 400);
    t.regex(refused.json().message, /^Unable to convert to Table as requested: includeObject: Invalid value: "All"/);
  }
  t.is(decorated, decoratedBefore, 'no live status read for a refused Table');
  t.is((await call('GET', `${collection}?includeObject=All`)).status, 200, 'without a Table, includeObject means nothing');
});

test('watch rendered as Table sends the column definitions with the first event only', async (t) => {
  const { call, app } = await serve(t);
  for (const name of ['a', 'b']) await call('POST', collection, widget(name));
  const events = await watchEvents(app.base, app.tls.ca, `${collection}?watch=1`, 2, 'application/json;as=Table;v=v1;g=meta.k8s.io');
  t.deepEqual(
    events.map((e) => [e.type, e.object.kind, 'columnDefinitions' in e.object]),
    [
      ['ADDED', 'Table', true],
      ['ADDED', 'Table', false],
    ],
  );
});

test('watch from a compacted resourceVersion ends with a 410 Expired ERROR event', async (t) => {
  const { call, app, store } = await serve(t);
  await call('POST', collection, widget('first'));
  const { resourceVersion } = (await call('GET', collection)).json().metadata;
  for (const name of ['a', 'b', 'c']) await call('POST', collection, widget(name));
  await store.compact(1);
  const [event] = await watchEvents(app.base, app.tls.ca, `${collection}?watch=1&resourceVersion=${resourceVersion}`, 1);
  t.is(event!.type, 'ERROR');
  t.like(event!.object, { kind: 'Status', code: 410, reason: 'Expired' });
  t.regex(event!.object.message, /too old resource version/);
});

test('a watch with nothing to send yet answers its headers at once (kubectl wait hung without them)', async (t) => {
  const { call, app } = await serve(t);
  await call('POST', collection, widget('a'));
  const { resourceVersion } = (await call('GET', collection)).json().metadata;
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${app.base}${collection}?watch=1&resourceVersion=${resourceVersion}`, { ca: app.tls.ca }, (res) => {
      resolve(res.statusCode!);
      req.destroy();
    });
    req.on('error', reject);
    setTimeout(() => reject(new Error('no response headers within 5 s')), 5000);
    req.end();
  });
  t.is(status, 200);
});

test('a write that changes nothing stores nothing: the resourceVersion stays and watchers see no event', async (t) => {
  const { call, app } = await serve(t);
  const created = (await call('POST', collection, widget('same', { size: 3 }))).json();
  const { opened, events } = openWatch(
    app.base,
    app.tls.ca,
    `${collection}?watch=1&resourceVersion=${created.metadata.resourceVersion}`,
    1,
  );
  await Promise.race([opened, events]);
  const merge = { headers: { 'content-type': 'application/merge-patch+json' } };
  const samePatch = await call('PATCH', `${collection}/same`, { spec: { size: 3 } }, merge);
  t.is(samePatch.json().metadata.resourceVersion, created.metadata.resourceVersion);
  const samePut = await call('PUT', `${collection}/same`, created);
  t.is(samePut.json().metadata.resourceVersion, created.metadata.resourceVersion);
  const changed = await call('PATCH', `${collection}/same`, { spec: { size: 4 } }, merge);
  t.not(changed.json().metadata.resourceVersion, created.metadata.resourceVersion);
  t.deepEqual(
    (await events).map((e) => [e.type, e.object.spec.size]),
    [['MODIFIED', 4]],
    'the first event is the real change',
  );
});
