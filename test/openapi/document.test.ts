// /openapi/v2 and /openapi/v3 as kube-apiserver's aggregator and kubectl read them: definitions with their GVKs,
// a description on every field, PATCH without strategic merge and with fieldValidation, hashes and ETags.
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import {
  buildOpenAPIV2,
  buildOpenAPIV3,
  buildOpenAPIV3Discovery,
  groupVersionPath,
  openAPIV2,
  openAPIV3Discovery,
  openAPIV3GroupVersion,
  serve,
} from '../../openapi/document.ts';
import { group, kinds, version } from '../../openapi/index.ts';
import { fieldsOf } from '../../openapi/walk.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const v2: Json = JSON.parse(openAPIV2().json);
const v3: Json = JSON.parse(openAPIV3GroupVersion(groupVersionPath)!.json);
const patchTypes = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];
const methods = ['get', 'put', 'post', 'patch', 'delete'];

/** Both documents, with where each keeps its schemas. */
const documents = [
  { name: 'v2', doc: v2, schemas: v2.definitions as Json, refPrefix: '#/definitions/' },
  { name: 'v3', doc: v3, schemas: v3.components.schemas as Json, refPrefix: '#/components/schemas/' },
];

function operations(doc: Json): { path: string; method: string; op: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    methods.filter((m) => item[m]).map((method) => ({ path, method, op: item[method] as Json })),
  );
}

function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === '$ref' ? [v as string] : refsIn(v)));
}

for (const { name, doc, schemas, refPrefix } of documents) {
  test(`${name}: every kind and its list has a definition with a GVK array`, (t) => {
    for (const kind of Object.values(kinds)) {
      for (const k of [kind.kind, kind.listKind]) {
        const definition = schemas[`dev.dinhloc.databases.postgres.v1alpha1.${k}`];
        t.truthy(definition, k);
        t.deepEqual(definition['x-kubernetes-group-version-kind'], [{ group, kind: k, version }]);
      }
    }
  });

  test(`${name}: every field of every definition has a description`, (t) => {
    const missing = Object.entries(schemas).flatMap(([definition, schema]) => [
      ...(schema.description ? [] : [definition]),
      ...fieldsOf(schema)
        .filter((f) => !f.schema.description)
        .map((f) => `${definition}: ${f.path}`),
    ]);
    t.deepEqual(missing, []);
  });

  test(`${name}: every reference resolves`, (t) => {
    const refs = refsIn(doc);
    t.true(refs.length > 0);
    t.deepEqual(
      refs.filter((r) => !r.startsWith(refPrefix) || !schemas[r.slice(refPrefix.length)]),
      [],
    );
  });

  test(`${name}: every operation names its kind (a single GVK) and its action`, (t) => {
    const actions = new Set(['get', 'list', 'watch', 'post', 'put', 'patch', 'delete', 'deletecollection']);
    for (const { path, op } of operations(doc)) {
      const kind = Object.values(kinds).find((k) => path.split('/').includes(k.plural))!;
      t.deepEqual(op['x-kubernetes-group-version-kind'], { group, kind: kind.kind, version }, path);
      t.true(actions.has(op['x-kubernetes-action']), path);
    }
  });

  test(`${name}: keyed lists carry x-kubernetes-list-type map and their keys, immutable fields self == oldSelf`, (t) => {
    const role = schemas['dev.dinhloc.databases.postgres.v1alpha1.DatabaseRole'].properties.spec.properties;
    t.like(role.permissions, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['database'] });
    t.like(role.permissions.items.properties.schemas, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
    t.like(role.permissions.items.properties.schemas.items.properties.tables, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    });
    t.is(role.memberOf['x-kubernetes-list-type'], undefined, 'other lists are atomic');
    const immutable = [{ rule: 'self == oldSelf', message: 'field is immutable' }];
    t.deepEqual(role.roleName['x-kubernetes-validations'], immutable);
    t.deepEqual(role.databaseClusterRef['x-kubernetes-validations'], immutable);
    const database = schemas['dev.dinhloc.databases.postgres.v1alpha1.Database'].properties.spec.properties;
    for (const field of ['name', 'databaseClusterRef']) t.deepEqual(database[field]['x-kubernetes-validations'], immutable, field);
    // Creation settings may change until the database exists: no CEL rule says that, so they carry this server's mark.
    for (const field of ['encoding', 'lcCollate', 'lcCtype', 'template']) {
      t.is(database[field]['x-kubernetes-validations'], undefined, field);
      t.is(database[field]['x-postgres-apiserver-fixed-once-created'], true, field);
    }
    t.is(database.schemas['x-kubernetes-validations'], undefined);
  });

  test(`${name}: PATCH takes JSON patch, merge patch and apply, never strategic merge, and lists fieldValidation`, (t) => {
    const patches = operations(doc).filter((o) => o.method === 'patch');
    t.is(patches.length, 6, 'the object and its status, for three kinds');
    for (const { path, op } of patches) {
      t.deepEqual(name === 'v2' ? op.consumes : Object.keys(op.requestBody.content), patchTypes, path);
      t.true(
        op.parameters.some((p: Json) => p.name === 'fieldValidation' && p.in === 'query'),
        path,
      );
    }
    t.false(JSON.stringify(doc).includes('strategic-merge-patch'));
  });
}

test('namespaced kinds have namespaced paths and a list across namespaces; DatabaseCluster has cluster paths', (t) => {
  const root = `/apis/${group}/${version}`;
  const verbs = (path: string) => methods.filter((m) => v3.paths[path]?.[m]).join(',');
  for (const plural of ['databases', 'databaseroles']) {
    const collection = `${root}/namespaces/{namespace}/${plural}`;
    t.is(verbs(collection), 'get,post,delete');
    t.is(verbs(`${collection}/{name}`), 'get,put,patch,delete');
    t.is(verbs(`${collection}/{name}/status`), 'get,put,patch');
    t.is(verbs(`${root}/${plural}`), 'get');
    t.deepEqual(
      v3.paths[`${collection}/{name}`].parameters.map((p: Json) => p.name),
      ['namespace', 'name'],
    );
  }
  t.is(verbs(`${root}/databaseclusters`), 'get,post,delete');
  t.is(verbs(`${root}/databaseclusters/{name}`), 'get,put,patch,delete');
  t.is(verbs(`${root}/databaseclusters/{name}/status`), 'get,put,patch');
  t.false(Object.keys(v3.paths).some((p) => p.includes('namespaces/{namespace}/databaseclusters')));
  t.deepEqual(
    v3.paths[`${root}/databases`].get.parameters.map((p: Json) => p.name).filter((n: string) => n === 'watch'),
    ['watch'],
  );
  t.is(v3.paths[`${root}/namespaces/{namespace}/databases`].delete['x-kubernetes-action'], 'deletecollection');
});

test('the apimachinery definitions the operations and kinds refer to are there', (t) => {
  for (const name of ['ObjectMeta', 'ListMeta', 'Status', 'Condition', 'Time', 'LabelSelector', 'DeleteOptions', 'Patch']) {
    t.truthy(v2.definitions[`io.k8s.apimachinery.pkg.apis.meta.v1.${name}`], name);
    t.truthy(v3.components.schemas[`io.k8s.apimachinery.pkg.apis.meta.v1.${name}`], name);
  }
  const cluster = v3.components.schemas['dev.dinhloc.databases.postgres.v1alpha1.DatabaseCluster'];
  t.deepEqual(cluster.properties.metadata.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }]);
  t.deepEqual(cluster.properties.status.properties.conditions.items, {
    $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Condition',
  });
});

const sha512 = (text: string) => createHash('sha512').update(text).digest('hex').toUpperCase();

test('v3 discovery points at the group-version document with the hash of the bytes served there', (t) => {
  const served = openAPIV3GroupVersion(groupVersionPath)!;
  t.is(served.hash, sha512(served.json));
  t.is(served.etag, `"${served.hash}"`);
  t.regex(served.hash, /^[0-9A-F]{128}$/);
  t.deepEqual(JSON.parse(openAPIV3Discovery().json), {
    paths: { [groupVersionPath]: { serverRelativeURL: `/openapi/v3/${groupVersionPath}?hash=${served.hash}` } },
  });
  t.is(openAPIV3GroupVersion('apis/apps/v1'), undefined);
  t.is(openAPIV2().etag, `"${sha512(openAPIV2().json)}"`);
});

test('the documents are built once: the same bytes and ETags on every call', (t) => {
  t.is(openAPIV2(), openAPIV2());
  t.is(openAPIV3Discovery(), openAPIV3Discovery());
  t.is(
    serve(buildOpenAPIV3(Object.values(kinds))).etag,
    openAPIV3GroupVersion(groupVersionPath)!.etag,
    'building again gives the same bytes',
  );
});

test('a different API gives a different hash, and discovery follows it', (t) => {
  const all = serve(buildOpenAPIV3(Object.values(kinds)));
  const fewer = serve(buildOpenAPIV3([kinds.databases]));
  t.not(fewer.etag, all.etag);
  t.not(serve(buildOpenAPIV2([kinds.databases])).etag, openAPIV2().etag);
  const discovery = (d: typeof all) => JSON.stringify(buildOpenAPIV3Discovery({ [groupVersionPath]: d }));
  t.not(discovery(fewer), discovery(all));
});

/** What kubectl explain (pkg/explain/v2 templates) does: the GVK from an operation, the schema holding it, then fields. */
function explain(resource: string, fields: string[]): { description: string; fields: string[] } {
  const root = `/apis/${group}/${version}`;
  const paths = [
    `${root}/${resource}`,
    `${root}/${resource}/{name}`,
    `${root}/namespaces/{namespace}/${resource}`,
    `${root}/namespaces/{namespace}/${resource}/{name}`,
  ];
  const gvk = paths.flatMap((p) => methods.map((m) => v3.paths[p]?.[m]?.['x-kubernetes-group-version-kind'])).find(Boolean);
  const schemas = v3.components.schemas as Record<string, Json>;
  const resolve = (s: Json): Json => (s.$ref ? schemas[s.$ref.split('/').pop()]! : s);
  const step = (s: Json, field: string): Json | undefined => {
    const r = resolve(s);
    if (r.properties?.[field]) return r.properties[field];
    if (r.items) return step(r.items, field);
    for (const sub of r.allOf ?? []) {
      const found = step(sub, field);
      if (found) return found;
    }
    return undefined;
  };
  let node: Json | undefined = Object.values(schemas).find((s) =>
    s['x-kubernetes-group-version-kind']?.some((g: Json) => isDeepStrictEqual(g, gvk)),
  );
  for (const field of fields) node = node && step(node, field);
  if (!node) return { description: '', fields: [] };
  const target = resolve(node.allOf?.[0] ?? node);
  const listed = resolve(target.items ?? target);
  return { description: node.description ?? target.description ?? '', fields: Object.keys(listed.properties ?? {}) };
}

const explained = [
  {
    resource: 'databaseroles',
    path: 'spec.permissions.schemas.tables',
    description: /every table of the schema|Privileges on tables/,
    fields: ['name', 'privileges'],
  },
  { resource: 'databaseroles', path: '', description: /PostgreSQL role/, fields: ['apiVersion', 'kind', 'metadata', 'spec', 'status'] },
  { resource: 'databaseroles', path: 'spec.password.key', description: /key of the password/, fields: [] },
  {
    resource: 'databaseclusters',
    path: 'spec.allowedNamespaces.selector',
    description: /labels of the allowed namespaces/,
    fields: ['matchLabels', 'matchExpressions'],
  },
  {
    resource: 'databaseclusters',
    path: 'status.conditions',
    description: /Ready/,
    fields: ['type', 'status', 'observedGeneration', 'lastTransitionTime', 'reason', 'message'],
  },
  { resource: 'databases', path: 'metadata', description: /metadata/, fields: ['name', 'generateName', 'namespace'] },
];

for (const c of explained) {
  test(`kubectl explain ${c.resource}${c.path ? `.${c.path}` : ''} finds a description and the fields`, (t) => {
    const result = explain(c.resource, c.path ? c.path.split('.') : []);
    t.regex(result.description, c.description);
    t.deepEqual(result.fields.slice(0, c.fields.length), c.fields);
  });
}
