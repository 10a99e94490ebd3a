// Server-side apply: the field sets, merge, conflicts and ownership as pure functions (tables of cases), then over
// HTTP and the real object store: create by apply, update by apply, a field the manager stopped applying, two
// managers in conflict and force, and the Update entries of other writes.
import test from 'ava';
import {
  applyConfiguration,
  applyConflict,
  compare,
  fieldSetOf,
  fromFieldsV1,
  managedEntriesOf,
  managerFromUserAgent,
  merge,
  pathString,
  recordUpdate,
  toFieldsV1,
  type Management,
} from '../../apiserver/apply.ts';
import type { ResourceKind } from '../../reconcile/kinds/resource.ts';
import { databaseRole } from '../../openapi/databaserole.ts';
import { listMapKeys } from '../../openapi/walk.ts';
import { ageColumn, nameColumn } from '../../openapi/kind.ts';
import { serveKinds } from '../support/apiserver.ts';
import { startTestServer, type TestServer } from '../support/postgres.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { FieldError } from '../../openapi/fields.ts';

const keys = listMapKeys(databaseRole.schema.spec, 'spec');
const fields = (object: unknown) => toFieldsV1(fieldSetOf(object, keys));

// ---- Field sets -------------------------------------------------------------------------------------------

const fieldSets: { name: string; object: unknown; fieldsV1: unknown }[] = [
  {
    name: 'scalars and lists of scalars are leaves',
    object: { spec: { roleName: 'app', login: true, memberOf: ['a', 'b'] } },
    fieldsV1: { 'f:spec': { 'f:login': {}, 'f:memberOf': {}, 'f:roleName': {} } },
  },
  {
    name: 'an empty object is a leaf; a null is not owned',
    object: { spec: { password: {}, validUntil: null } },
    fieldsV1: { 'f:spec': { 'f:password': {} } },
  },
  {
    name: 'permissions, schemas and tables are lists keyed by database and name',
    object: {
      spec: {
        permissions: [
          { database: 'app', privileges: ['CONNECT'], schemas: [{ name: 'public', tables: [{ name: '*', privileges: ['SELECT'] }] }] },
        ],
      },
    },
    fieldsV1: {
      'f:spec': {
        'f:permissions': {
          'k:{"database":"app"}': {
            '.': {},
            'f:database': {},
            'f:privileges': {},
            'f:schemas': {
              'k:{"name":"public"}': {
                '.': {},
                'f:name': {},
                'f:tables': { 'k:{"name":"*"}': { '.': {}, 'f:name': {}, 'f:privileges': {} } },
              },
            },
          },
        },
      },
    },
  },
  {
    name: 'a keyed list whose key repeats is atomic',
    object: { spec: { permissions: [{ database: 'a' }, { database: 'a' }] } },
    fieldsV1: { 'f:spec': { 'f:permissions': {} } },
  },
  { name: 'an empty keyed list owns nothing', object: { spec: { permissions: [] } }, fieldsV1: {} },
  { name: 'other lists of objects are atomic', object: { spec: { drift: [{ name: 'x' }] } }, fieldsV1: { 'f:spec': { 'f:drift': {} } } },
];

for (const c of fieldSets) {
  test(`field set: ${c.name}`, (t) => {
    t.deepEqual(fields(c.object), c.fieldsV1);
    t.deepEqual(toFieldsV1(fromFieldsV1(c.fieldsV1)), c.fieldsV1, 'FieldsV1 reads back as the same set');
  });
}

test("the keyed lists come from the schema's x-kubernetes-list-type: map marks", (t) => {
  t.deepEqual(keys, {
    'spec.permissions': 'database',
    'spec.permissions.schemas': 'name',
    'spec.permissions.schemas.tables': 'name',
    'spec.permissions.schemas.sequences': 'name',
    'spec.permissions.schemas.functions': 'name',
  });
});

test('a kind without keyed lists (a Secret) has every list atomic', (t) => {
  t.deepEqual(toFieldsV1(fieldSetOf({ spec: { permissions: [{ database: 'a' }] } }, {})), { 'f:spec': { 'f:permissions': {} } });
});

test('a path prints as kube-apiserver names a field', (t) => {
  t.is(
    pathString(['f:spec', 'f:permissions', 'k:{"database":"app"}', 'f:schemas', 'k:{"name":"public"}', 'f:privileges']),
    '.spec.permissions[database="app"].schemas[name="public"].privileges',
  );
});

// ---- Compare and merge ------------------------------------------------------------------------------------

const comparisons: { name: string; before: unknown; after: unknown; added?: unknown; modified?: unknown; removed?: unknown }[] = [
  {
    name: 'a changed leaf is modified',
    before: { spec: { a: 1, b: 2 } },
    after: { spec: { a: 1, b: 3 } },
    modified: { 'f:spec': { 'f:b': {} } },
  },
  {
    name: 'a new object is added with everything in it',
    before: { metadata: {} },
    after: { metadata: { labels: { app: 'x' } } },
    added: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } },
  },
  { name: 'a removed field is removed', before: { spec: { a: 1, b: 2 } }, after: { spec: { a: 1 } }, removed: { 'f:spec': { 'f:b': {} } } },
  {
    name: 'keyed items compare by key, whatever their order',
    before: { spec: { permissions: [{ database: 'a', privileges: ['CONNECT'] }, { database: 'b' }] } },
    after: { spec: { permissions: [{ database: 'b' }, { database: 'a', privileges: ['CREATE'] }] } },
    modified: { 'f:spec': { 'f:permissions': { 'k:{"database":"a"}': { 'f:privileges': {} } } } },
  },
  {
    name: 'an atomic list changes as a whole',
    before: { spec: { memberOf: ['a'] } },
    after: { spec: { memberOf: ['a', 'b'] } },
    modified: { 'f:spec': { 'f:memberOf': {} } },
  },
];

for (const c of comparisons) {
  test(`compare: ${c.name}`, (t) => {
    const changes = compare(c.before, c.after, keys);
    t.deepEqual(
      [toFieldsV1(changes.added), toFieldsV1(changes.modified), toFieldsV1(changes.removed)],
      [c.added ?? {}, c.modified ?? {}, c.removed ?? {}],
    );
  });
}

const merges: { name: string; live: unknown; config: unknown; merged: unknown }[] = [
  {
    name: 'objects merge field by field',
    live: { spec: { a: 1, b: { c: 2 } } },
    config: { spec: { b: { d: 3 } } },
    merged: { spec: { a: 1, b: { c: 2, d: 3 } } },
  },
  { name: 'a null removes the field', live: { spec: { a: 1, b: 2 } }, config: { spec: { b: null } }, merged: { spec: { a: 1 } } },
  {
    name: 'an atomic list is replaced',
    live: { spec: { memberOf: ['a', 'b'] } },
    config: { spec: { memberOf: ['c'] } },
    merged: { spec: { memberOf: ['c'] } },
  },
  {
    name: 'keyed items merge by key; new items go after the live ones',
    live: { spec: { permissions: [{ database: 'a', privileges: ['CONNECT'] }, { database: 'b' }] } },
    config: { spec: { permissions: [{ database: 'c' }, { database: 'a', schemas: [{ name: 'public' }] }] } },
    merged: {
      spec: {
        permissions: [{ database: 'c' }, { database: 'a', privileges: ['CONNECT'], schemas: [{ name: 'public' }] }, { database: 'b' }],
      },
    },
  },
  {
    name: 'the configuration orders the items it shares with the live list',
    live: { spec: { permissions: [{ database: 'a' }, { database: 'x' }, { database: 'b' }] } },
    config: { spec: { permissions: [{ database: 'b' }, { database: 'a' }] } },
    merged: { spec: { permissions: [{ database: 'b' }, { database: 'x' }, { database: 'a' }] } },
  },
];

for (const c of merges) {
  test(`merge: ${c.name}`, (t) => {
    t.deepEqual(merge(c.live, c.config, keys), c.merged);
  });
}

// ---- Apply and update ownership ---------------------------------------------------------------------------

const management = (now: string): Management => ({
  apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
  keys,
  ignored: (path) =>
    path[0] === 'f:apiVersion' ||
    path[0] === 'f:kind' ||
    (path[0] === 'f:metadata' && (path.length === 1 || path[1] === 'f:name' || path[1] === 'f:namespace')) ||
    path[0] === 'f:status',
  known: (o) => o,
  now,
});
const t1 = management('2026-01-01T00:00:00Z');
const t2 = management('2026-01-02T00:00:00Z');
const t3 = management('2026-01-03T00:00:00Z');

const role = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
  kind: 'DatabaseRole',
  metadata: { name: 'app', namespace: 'default', ...metadata },
  spec,
});

function applied(live: KubeObject | undefined, config: KubeObject, manager: string, m: Management, force = false): KubeObject {
  const result = applyConfiguration(live, config, manager, force, m);
  if ('conflicts' in result) throw new Error(`unexpected conflicts: ${JSON.stringify(result.conflicts)}`);
  return result.object;
}

const owners = (object: KubeObject) =>
  Object.fromEntries(managedEntriesOf(object.metadata.managedFields).map((e) => [`${e.manager}/${e.operation}`, toFieldsV1(e.fields)]));

test('the first apply creates the object and its Apply entry', (t) => {
  const created = applied(undefined, role({ roleName: 'app', connectionLimit: 5 }), 'kubectl', t1);
  t.deepEqual(created.spec, { roleName: 'app', connectionLimit: 5 });
  t.deepEqual(created.metadata.managedFields, [
    {
      manager: 'kubectl',
      operation: 'Apply',
      apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
      time: '2026-01-01T00:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:spec': { 'f:connectionLimit': {}, 'f:roleName': {} } },
    },
  ]);
});

test('applying the same configuration again changes nothing, not even the time', (t) => {
  const created = applied(undefined, role({ roleName: 'app' }), 'kubectl', t1);
  t.deepEqual(applied(created, role({ roleName: 'app' }), 'kubectl', t2), created);
});

const stopped: { name: string; first: KubeObject; second: KubeObject; spec: unknown; metadata?: unknown }[] = [
  { name: 'a scalar', first: role({ roleName: 'app', connectionLimit: 5 }), second: role({ roleName: 'app' }), spec: { roleName: 'app' } },
  {
    name: 'a label (and the labels, left empty)',
    first: role({ roleName: 'app' }, { labels: { a: '1' } }),
    second: role({ roleName: 'app' }),
    spec: { roleName: 'app' },
    metadata: { name: 'app', namespace: 'default' },
  },
  {
    name: 'a keyed item, with what it held',
    first: role({
      roleName: 'app',
      permissions: [
        { database: 'a', privileges: ['CONNECT'] },
        { database: 'b', schemas: [{ name: 'public' }] },
      ],
    }),
    second: role({ roleName: 'app', permissions: [{ database: 'a', privileges: ['CONNECT'] }] }),
    spec: { roleName: 'app', permissions: [{ database: 'a', privileges: ['CONNECT'] }] },
  },
  {
    name: 'a field inside a keyed item',
    first: role({ roleName: 'app', permissions: [{ database: 'a', privileges: ['CONNECT'] }] }),
    second: role({ roleName: 'app', permissions: [{ database: 'a' }] }),
    spec: { roleName: 'app', permissions: [{ database: 'a' }] },
  },
];

for (const c of stopped) {
  test(`a field the manager stopped applying is removed: ${c.name}`, (t) => {
    const next = applied(applied(undefined, c.first, 'kubectl', t1), c.second, 'kubectl', t2);
    t.deepEqual(next.spec, c.spec);
    if (c.metadata) t.deepEqual({ ...next.metadata, managedFields: undefined }, { ...c.metadata, managedFields: undefined });
    t.is(managedEntriesOf(next.metadata.managedFields)[0]!.time, '2026-01-02T00:00:00Z');
  });
}

test('a field the manager stopped applying stays while another manager owns it too', (t) => {
  const first = applied(undefined, role({ roleName: 'app', connectionLimit: 5 }), 'kubectl', t1);
  const shared = applied(first, role({ connectionLimit: 5 }), 'other', t2);
  t.deepEqual(
    owners(shared),
    {
      'kubectl/Apply': { 'f:spec': { 'f:connectionLimit': {}, 'f:roleName': {} } },
      'other/Apply': { 'f:spec': { 'f:connectionLimit': {} } },
    },
    'the same value is shared, not a conflict',
  );
  const dropped = applied(shared, role({ roleName: 'app' }), 'kubectl', t3);
  t.deepEqual(dropped.spec, { roleName: 'app', connectionLimit: 5 });
  t.deepEqual(owners(dropped), {
    'kubectl/Apply': { 'f:spec': { 'f:roleName': {} } },
    'other/Apply': { 'f:spec': { 'f:connectionLimit': {} } },
  });
});

test('a different value for a field another manager owns is a conflict; force moves the field', (t) => {
  const first = applied(undefined, role({ roleName: 'app', connectionLimit: 5 }), 'kubectl', t1);
  const refused = applyConfiguration(first, role({ connectionLimit: 7 }), 'other', false, t2);
  t.deepEqual(refused, { conflicts: [{ manager: '"kubectl"', path: ['f:spec', 'f:connectionLimit'] }] });
  const forced = applied(first, role({ connectionLimit: 7 }), 'other', t2, true);
  t.is((forced.spec as { connectionLimit: number }).connectionLimit, 7);
  t.deepEqual(owners(forced), {
    'kubectl/Apply': { 'f:spec': { 'f:roleName': {} } },
    'other/Apply': { 'f:spec': { 'f:connectionLimit': {} } },
  });
});

test('a null for a field another manager owns is a conflict too', (t) => {
  const first = applied(undefined, role({ roleName: 'app', connectionLimit: 5 }), 'kubectl', t1);
  t.true('conflicts' in applyConfiguration(first, role({ connectionLimit: null }), 'other', false, t2));
});

test('an update owns what it changed and takes it from the other managers', (t) => {
  const first = applied(undefined, role({ roleName: 'app', connectionLimit: 5 }), 'kubectl', t1);
  const patched = recordUpdate(
    first,
    { ...first, metadata: { ...first.metadata, labels: { team: 'x' } }, spec: { ...(first.spec as object), connectionLimit: 9 } },
    'kubectl-patch',
    t2,
  );
  t.deepEqual(owners(patched), {
    'kubectl/Apply': { 'f:spec': { 'f:roleName': {} } },
    'kubectl-patch/Update': { 'f:metadata': { 'f:labels': { '.': {}, 'f:team': {} } }, 'f:spec': { 'f:connectionLimit': {} } },
  });
  t.is(managedEntriesOf(patched.metadata.managedFields)[1]!.time, '2026-01-02T00:00:00Z');
  const again = recordUpdate(patched, patched, 'kubectl-patch', t3);
  t.deepEqual(
    again.metadata.managedFields,
    patched.metadata.managedFields,
    'a write that changes nothing leaves the entries and their times',
  );
  const conflict = applyConfiguration(patched, role({ connectionLimit: 1 }), 'kubectl', false, t3);
  t.deepEqual(conflict, {
    conflicts: [{ manager: '"kubectl-patch" using postgres.databases.dinhloc.dev/v1alpha1', path: ['f:spec', 'f:connectionLimit'] }],
  });
});

test('a create owns everything it set, the objects it made included', (t) => {
  const created = recordUpdate(undefined, role({ roleName: 'app' }, { labels: { a: '1' } }), 'kubectl-create', t1);
  t.deepEqual(owners(created), {
    'kubectl-create/Update': { 'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } }, 'f:spec': { '.': {}, 'f:roleName': {} } },
  });
});

test('managedFields: [{}] clears them', (t) => {
  const first = applied(undefined, role({ roleName: 'app' }), 'kubectl', t1);
  t.false(
    'managedFields' in recordUpdate(first, { ...first, metadata: { ...first.metadata, managedFields: [{}] } }, 'kubectl-edit', t2).metadata,
  );
});

test('Update entries are capped: the oldest are merged into ancient-changes', (t) => {
  let object = role({ roleName: 'app' });
  for (let i = 0; i < 13; i++) {
    const m = management(`2026-01-01T00:00:${String(i).padStart(2, '0')}Z`);
    object = recordUpdate(
      object,
      {
        ...object,
        metadata: { ...object.metadata, labels: { ...(object.metadata.labels as Record<string, string> | undefined), [`l${i}`]: 'x' } },
      },
      `writer-${i}`,
      m,
    );
  }
  const entries = managedEntriesOf(object.metadata.managedFields);
  t.is(entries.length, 10);
  t.deepEqual(
    entries.map((e) => e.manager),
    ['ancient-changes', ...[4, 5, 6, 7, 8, 9, 10, 11, 12].map((i) => `writer-${i}`)],
  );
  t.deepEqual(toFieldsV1(entries[0]!.fields), {
    'f:metadata': { 'f:labels': { '.': {}, 'f:l0': {}, 'f:l1': {}, 'f:l2': {}, 'f:l3': {} } },
  });
  t.is(entries[0]!.time, '2026-01-01T00:00:03Z');
});

test('conflict messages as kube-apiserver words them', (t) => {
  const one = applyConflict([{ manager: '"kubectl"', path: ['f:spec', 'f:connectionLimit'] }]);
  t.like(one.toStatus(), {
    code: 409,
    reason: 'Conflict',
    message: 'Apply failed with 1 conflict: conflict with "kubectl": .spec.connectionLimit',
    details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl"', field: '.spec.connectionLimit' }] },
  });
  const two = applyConflict([
    { manager: '"a"', path: ['f:spec', 'f:x'] },
    { manager: '"a"', path: ['f:spec', 'f:y'] },
    { manager: '"b" using v1', path: ['f:spec', 'f:x'] },
  ]);
  t.is(two.message, 'Apply failed with 3 conflicts: conflicts with "a":\n- .spec.x\n- .spec.y\nconflicts with "b" using v1:\n- .spec.x');
});

const userAgents: [string, string][] = [
  ['kubectl-edit/v1.34.1 (linux/amd64) kubernetes/abcdef', 'kubectl-edit'],
  ['kubectl-client-side-apply/v1.34.1 (linux/amd64)', 'kubectl-client-side-apply'],
  ['Go-http-client/1.1', 'Go-http-client'],
  ['tab\there', 'tabhere'],
  ['x'.repeat(200), 'x'.repeat(128)],
];

for (const [userAgent, manager] of userAgents) {
  test(`the default manager of ${JSON.stringify(userAgent.slice(0, 30))} is ${JSON.stringify(manager.slice(0, 30))}`, (t) => {
    t.is(managerFromUserAgent(userAgent), manager);
  });
}

// ---- Over HTTP and the real store -------------------------------------------------------------------------

const gadgets: ResourceKind = {
  group: 'example.dev',
  version: 'v1',
  kind: 'Gadget',
  plural: 'gadgets',
  singular: 'gadget',
  namespaced: true,
  statusSubresource: true,
  columns: [nameColumn, ageColumn],
  strategy: {
    unknownFields: (o) =>
      Object.keys((o.spec ?? {}) as object)
        .filter((k) => !['size', 'limit', 'note'].includes(k))
        .map((k) => `spec.${k}`),
    prune: (o) => ({
      ...o,
      spec: Object.fromEntries(Object.entries((o.spec ?? {}) as object).filter(([k]) => ['size', 'limit', 'note'].includes(k))),
    }),
    withDefaults: (o) => o,
    validate: (o) =>
      Number.isInteger((o.spec as { size?: unknown } | undefined)?.size)
        ? []
        : [{ type: 'FieldValueRequired', field: 'spec.size', message: 'Required value' } satisfies FieldError],
  },
};

let server: TestServer;
test.before(async () => {
  server = await startTestServer('pg17');
});
test.after.always(async () => server?.stop());

const collection = '/apis/example.dev/v1/namespaces/default/gadgets';
const gadget = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'example.dev/v1',
  kind: 'Gadget',
  metadata: { name: 'g', ...metadata },
  spec,
});
const applyHeaders = { headers: { 'content-type': 'application/apply-patch+yaml' } };
const mergeHeaders = { headers: { 'content-type': 'application/merge-patch+json' } };

async function serve(t: { teardown(fn: () => unknown): void }) {
  const { call } = await serveKinds(t, server.superuserDsn, [gadgets]);
  const apply = (manager: string, body: unknown, query = '') =>
    call('PATCH', `${collection}/g?fieldManager=${manager}${query}`, body, applyHeaders);
  const owners = async () =>
    Object.fromEntries(
      (
        (await call('GET', `${collection}/g`)).json().metadata.managedFields as { manager: string; operation: string; fieldsV1: unknown }[]
      ).map((e) => [`${e.manager}/${e.operation}`, e.fieldsV1]),
    );
  return { call, apply, owners };
}

test('an apply to a missing object creates it (201) with the applier owning what it set', async (t) => {
  const { call, apply } = await serve(t);
  const created = await apply(
    'alice',
    'apiVersion: example.dev/v1\nkind: Gadget\nmetadata:\n  name: g\n  labels: {app: g}\nspec:\n  size: 1\n  limit: 5\n',
  );
  t.is(created.status, 201, created.text);
  const body = created.json();
  t.like(body, { metadata: { name: 'g', namespace: 'default', generation: 1, labels: { app: 'g' } }, spec: { size: 1, limit: 5 } });
  t.is(body.metadata.managedFields.length, 1);
  t.like(body.metadata.managedFields[0], {
    manager: 'alice',
    operation: 'Apply',
    apiVersion: 'example.dev/v1',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:limit': {}, 'f:size': {} } },
  });
  t.regex(body.metadata.managedFields[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.deepEqual((await call('GET', `${collection}/g`)).json().metadata.managedFields, body.metadata.managedFields);
});

test('an apply creates only once it is valid, and a dry run stores nothing', async (t) => {
  const { call, apply } = await serve(t);
  const invalid = await apply('alice', gadget({ limit: 5 }));
  t.is(invalid.status, 422);
  t.regex(invalid.json().message, /spec.size: Required value/);
  t.is((await apply('alice', gadget({ size: 1 }), '&dryRun=All')).status, 201);
  t.is((await call('GET', `${collection}/g`)).status, 404);
});

test('an apply updates (200), applying the same again changes nothing, and a field no longer applied goes', async (t) => {
  const { call, apply } = await serve(t);
  await apply('alice', gadget({ size: 1, note: 'x' }, { labels: { a: '1', b: '2' } }));
  const resized = await apply('alice', gadget({ size: 2, note: 'x' }, { labels: { a: '1', b: '2' } }));
  t.is(resized.status, 200, resized.text);
  t.like(resized.json(), { metadata: { generation: 2 }, spec: { size: 2, note: 'x' } });
  const again = (await apply('alice', gadget({ size: 2, note: 'x' }, { labels: { a: '1', b: '2' } }))).json();
  t.is(again.metadata.generation, 2);
  t.deepEqual(again.metadata.managedFields, resized.json().metadata.managedFields);
  const dropped = (await apply('alice', gadget({ size: 2 }, { labels: { a: '1' } }))).json();
  t.deepEqual(dropped.spec, { size: 2 });
  t.deepEqual(dropped.metadata.labels, { a: '1' });
  t.deepEqual(dropped.metadata.managedFields[0].fieldsV1, { 'f:metadata': { 'f:labels': { 'f:a': {} } }, 'f:spec': { 'f:size': {} } });
  t.deepEqual((await call('GET', `${collection}/g`)).json().spec, { size: 2 });
});

test('two managers: a different value is a 409 naming the field, force takes it over', async (t) => {
  const { apply, owners } = await serve(t);
  await apply('alice', gadget({ size: 1, limit: 5 }));
  const refused = await apply('bob', gadget({ limit: 7 }));
  t.is(refused.status, 409);
  t.like(refused.json(), {
    kind: 'Status',
    reason: 'Conflict',
    code: 409,
    message: 'Apply failed with 1 conflict: conflict with "alice": .spec.limit',
    details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.limit' }] },
  });
  t.is((await apply('bob', gadget({ limit: 7 }), '&force=false')).status, 409);
  const forced = await apply('bob', gadget({ limit: 7 }), '&force=true');
  t.is(forced.status, 200, forced.text);
  t.is(forced.json().spec.limit, 7);
  t.deepEqual(await owners(), { 'alice/Apply': { 'f:spec': { 'f:size': {} } }, 'bob/Apply': { 'f:spec': { 'f:limit': {} } } });
  const back = await apply('alice', gadget({ size: 1, limit: 5 }));
  t.is(back.status, 409, 'now alice is the one in conflict');
  t.regex(back.json().message, /conflict with "bob": .spec.limit/);
});

test('a merge patch records an Update entry for the manager its User-Agent names, and apply then conflicts with it', async (t) => {
  const { call, apply, owners } = await serve(t);
  await apply('alice', gadget({ size: 1, limit: 5 }));
  const patched = await call(
    'PATCH',
    `${collection}/g`,
    { spec: { limit: 6 } },
    { headers: { ...mergeHeaders.headers, 'user-agent': 'kubectl-patch/v1.34.1 (linux/amd64) kubernetes/abc' } },
  );
  t.is(patched.status, 200, patched.text);
  t.deepEqual(await owners(), { 'alice/Apply': { 'f:spec': { 'f:size': {} } }, 'kubectl-patch/Update': { 'f:spec': { 'f:limit': {} } } });
  const jsonPatched = await call('PATCH', `${collection}/g?fieldManager=scripts`, [{ op: 'add', path: '/spec/note', value: 'hi' }], {
    headers: { 'content-type': 'application/json-patch+json' },
  });
  t.is(jsonPatched.status, 200);
  t.deepEqual((await owners())['scripts/Update'], { 'f:spec': { 'f:note': {} } });
  const refused = await apply('alice', gadget({ size: 1, limit: 5 }));
  t.is(refused.status, 409);
  t.is(refused.json().message, 'Apply failed with 1 conflict: conflict with "kubectl-patch" using example.dev/v1: .spec.limit');
});

const refusals: { name: string; request: () => [string, unknown, { headers: Record<string, string> }]; code: number; message: RegExp }[] = [
  {
    name: 'an apply without fieldManager',
    request: () => [collection + '/g', gadget({ size: 1 }), applyHeaders],
    code: 422,
    message: /^PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch$/,
  },
  {
    name: 'a fieldManager over 128 bytes',
    request: () => [`${collection}/g?fieldManager=${'m'.repeat(129)}`, gadget({ size: 1 }), applyHeaders],
    code: 422,
    message: /fieldManager: Too long: may not be more than 128 bytes/,
  },
  {
    name: 'a fieldManager with a control character',
    request: () => [`${collection}/g?fieldManager=a%01b`, gadget({ size: 1 }), applyHeaders],
    code: 422,
    message: /fieldManager: Invalid value: .*invalid character U\+0001 \(at position 1\)/,
  },
  {
    name: 'force on a merge patch',
    request: () => [`${collection}/g?force=true`, { spec: { size: 2 } }, mergeHeaders],
    code: 422,
    message: /force: Forbidden: may not be specified for non-apply patch/,
  },
  {
    name: 'an apply of another kind',
    request: () => [`${collection}/g?fieldManager=a`, { ...gadget({ size: 1 }), kind: 'Widget' }, applyHeaders],
    code: 400,
    message: /^invalid object type: example.dev\/v1, Kind=Widget$/,
  },
  {
    name: 'an apply that carries managedFields',
    request: () => [`${collection}/g?fieldManager=a`, gadget({ size: 1 }, { managedFields: [] }), applyHeaders],
    code: 400,
    message: /^metadata.managedFields must be nil$/,
  },
  {
    name: 'an apply naming another object',
    request: () => [`${collection}/g?fieldManager=a`, gadget({ size: 1 }, { name: 'h' }), applyHeaders],
    code: 400,
    message: /^the name of the object \(h\) does not match the name on the URL \(g\)$/,
  },
  {
    name: 'an apply that is not YAML',
    request: () => [`${collection}/g?fieldManager=a`, 'spec: [1', applyHeaders],
    code: 400,
    message: /could not be decoded/,
  },
];

for (const c of refusals) {
  test(`${c.name} is refused with ${c.code}`, async (t) => {
    const { call, apply } = await serve(t);
    await apply('alice', gadget({ size: 1 }));
    const [path, body, options] = c.request();
    const res = await call('PATCH', path, body, options);
    t.is(res.status, c.code, res.text);
    t.regex(res.json().message, c.message);
    t.deepEqual((await call('GET', `${collection}/g`)).json().spec, { size: 1 });
  });
}

test('an unknown field is refused under Strict, and dropped under Warn without anyone owning it', async (t) => {
  const { apply } = await serve(t);
  const strict = await apply('alice', gadget({ size: 1, shape: 'round' }), '&fieldValidation=Strict');
  t.is(strict.status, 400);
  t.regex(strict.json().message, /strict decoding error: unknown field "spec.shape"/);
  const warned = await apply('alice', gadget({ size: 1, shape: 'round' }));
  t.is(warned.status, 201);
  t.is(warned.headers.warning, '299 - "unknown field \\"spec.shape\\""');
  t.deepEqual(warned.json().spec, { size: 1 });
  t.deepEqual(warned.json().metadata.managedFields[0].fieldsV1, { 'f:spec': { 'f:size': {} } });
});

test('an apply whose resourceVersion is stale is a Conflict', async (t) => {
  const { apply } = await serve(t);
  const created = (await apply('alice', gadget({ size: 1 }))).json();
  await apply('alice', gadget({ size: 2 }));
  const stale = await apply('alice', gadget({ size: 3 }, { resourceVersion: created.metadata.resourceVersion }));
  t.is(stale.status, 409);
  t.regex(stale.json().message, /the object has been modified/);
});

test('an apply of the status subresource changes the status only, and cannot create', async (t) => {
  const { call, apply } = await serve(t);
  const missing = await call(
    'PATCH',
    `${collection}/g/status?fieldManager=a`,
    { ...gadget({ size: 1 }), status: { phase: 'x' } },
    applyHeaders,
  );
  t.is(missing.status, 404);
  await apply('alice', gadget({ size: 1 }));
  const res = await call(
    'PATCH',
    `${collection}/g/status?fieldManager=controller`,
    { ...gadget({ size: 9 }), status: { phase: 'Ready' } },
    applyHeaders,
  );
  t.is(res.status, 200, res.text);
  t.like(res.json(), { spec: { size: 1 }, status: { phase: 'Ready' }, metadata: { generation: 1 } });
});

test('an apply to the main resource leaves the status alone and does not own it', async (t) => {
  const { call, apply, owners } = await serve(t);
  await apply('alice', gadget({ size: 1 }));
  await call(
    'PATCH',
    `${collection}/g/status?fieldManager=controller`,
    { ...gadget({ size: 1 }), status: { phase: 'Ready' } },
    applyHeaders,
  );
  const res = await apply('alice', { ...gadget({ size: 2 }), status: { phase: 'Mine' } });
  t.is(res.status, 200, res.text);
  t.deepEqual(res.json().status, { phase: 'Ready' });
  t.deepEqual(await owners(), { 'alice/Apply': { 'f:spec': { 'f:size': {} } } });
});
