// Requests against the kinds' schemas: the guide's manifests pass and get their defaults; every fault comes back
// with its field path, type and kube-apiserver's wording; unknown fields are listed and pruned.
import test from 'ava';
import type { DriftEntry } from '../../openapi/common.ts';
import { kinds, type Resource } from '../../openapi/index.ts';
import { pruneUnknownFields, unknownFields, validate, withDefaults } from '../../openapi/validate.ts';
import type { Drift } from '../../storage/catalog/plan.ts';
import { guideCluster, guideDatabase, guideRole } from '../support/guide.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A copy of `object` changed by `change`. */
function edited(object: Json, change: (copy: Json) => void): Json {
  const copy = structuredClone(object);
  change(copy);
  return copy;
}

const guide: { resource: Resource; object: Json }[] = [
  { resource: 'databaseclusters', object: guideCluster },
  { resource: 'databases', object: guideDatabase },
  { resource: 'databaseroles', object: guideRole },
];

for (const { resource, object } of guide) {
  test(`the guide's ${object.kind} is valid and has no unknown field`, (t) => {
    t.deepEqual(validate(object, kinds[resource]), []);
    t.deepEqual(unknownFields(object, kinds[resource]), []);
  });
}

test("the guide's objects get the defaults API.md gives, and keep what they say", (t) => {
  t.deepEqual(withDefaults(guideCluster, kinds.databaseclusters).spec, {
    connection: { name: 'postgres-connection', namespace: 'default', key: 'connection' },
    driftPolicy: 'Correct',
    connectionBudget: 10,
  });
  t.deepEqual(withDefaults(guideDatabase, kinds.databases).spec, { ...(guideDatabase as Json).spec, reclaimPolicy: 'Retain' });
  t.deepEqual(withDefaults(guideRole, kinds.databaseroles).spec, { ...(guideRole as Json).spec, reclaimPolicy: 'Retain' });
});

test('defaults fill objects that are present, replace nulls, and leave the input alone', (t) => {
  const role = edited(guideRole, (o) => {
    o.spec.password = { name: 'app-user-password' };
    o.spec.validUntil = null;
    o.spec.reclaimPolicy = null;
  });
  const before = structuredClone(role);
  const defaulted = withDefaults(role, kinds.databaseroles) as Json;
  t.deepEqual(defaulted.spec.password, { name: 'app-user-password', key: 'password' });
  t.is(defaulted.spec.reclaimPolicy, 'Retain');
  t.false('validUntil' in defaulted.spec, 'a null without a default is dropped');
  t.deepEqual(role, before);
  t.false('allowedNamespaces' in (withDefaults(guideCluster, kinds.databaseclusters) as Json).spec, 'absent objects stay absent');
  const selecting = edited(guideCluster, (o) => (o.spec.allowedNamespaces = { selector: { matchLabels: { team: 'a' } } }));
  t.is((withDefaults(selecting, kinds.databaseclusters) as Json).spec.allowedNamespaces.from, 'All');
  t.is((withDefaults(guideDatabase, kinds.databases) as Json).spec.schema, 'public');
  t.is(
    (
      withDefaults(
        edited(guideDatabase, (o) => delete o.spec.schema),
        kinds.databases,
      ) as Json
    ).spec.schema,
    'public',
  );
});

const rejected: { name: string; resource: Resource; object: Json; field: string; type: string; message: string }[] = [
  {
    name: 'a role without roleName',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => delete o.spec.roleName),
    field: 'spec.roleName',
    type: 'FieldValueRequired',
    message: 'Required value',
  },
  {
    name: 'a drift policy that is neither Correct nor Report',
    resource: 'databaseclusters',
    object: edited(guideCluster, (o) => (o.spec.driftPolicy = 'Sometimes')),
    field: 'spec.driftPolicy',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Sometimes": supported values: "Correct", "Report"',
  },
  {
    name: 'a connection limit written as a word',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => (o.spec.connectionLimit = 'ten')),
    field: 'spec.connectionLimit',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "string": spec.connectionLimit in body must be of type integer: "string"',
  },
  {
    name: 'a connection limit below -1',
    resource: 'databases',
    object: edited(guideDatabase, (o) => (o.spec.connectionLimit = -2)),
    field: 'spec.connectionLimit',
    type: 'FieldValueInvalid',
    message: 'Invalid value: -2: spec.connectionLimit in body should be greater than or equal to -1',
  },
  {
    name: 'a privilege that is not a string, deep in permissions',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => o.spec.permissions[0].schemas[0].privileges.push(7)),
    field: 'spec.permissions[0].schemas[0].privileges[2]',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "integer": spec.permissions[0].schemas[0].privileges[2] in body must be of type string: "integer"',
  },
  {
    name: 'tables without privileges',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => delete o.spec.permissions[0].schemas[0].tables[0].privileges),
    field: 'spec.permissions[0].schemas[0].tables[0].privileges',
    type: 'FieldValueRequired',
    message: 'Required value',
  },
  {
    name: 'a role name longer than PostgreSQL allows',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => (o.spec.roleName = 'r'.repeat(64))),
    field: 'spec.roleName',
    type: 'FieldValueTooLong',
    message: 'Too long: may not be more than 63 bytes',
  },
  {
    name: 'an empty database name',
    resource: 'databases',
    object: edited(guideDatabase, (o) => (o.spec.name = '')),
    field: 'spec.name',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "": spec.name in body should be at least 1 chars long',
  },
  {
    name: 'validUntil that is not a timestamp',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => (o.spec.validUntil = 'next year')),
    field: 'spec.validUntil',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "next year": spec.validUntil in body must be of type date-time: "next year"',
  },
  {
    name: 'a resync interval that is not a duration',
    resource: 'databaseclusters',
    object: edited(guideCluster, (o) => (o.spec.resyncInterval = 'P1D')),
    field: 'spec.resyncInterval',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "P1D": spec.resyncInterval in body must be of type duration: "P1D"',
  },
  {
    name: 'a connection Secret without its namespace',
    resource: 'databaseclusters',
    object: edited(guideCluster, (o) => delete o.spec.connection.namespace),
    field: 'spec.connection.namespace',
    type: 'FieldValueRequired',
    message: 'Required value',
  },
  {
    name: 'allowed namespaces from somewhere else',
    resource: 'databaseclusters',
    object: edited(guideCluster, (o) => (o.spec.allowedNamespaces = { from: 'Some' })),
    field: 'spec.allowedNamespaces.from',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Some": supported values: "All", "Selector"',
  },
  {
    name: 'a namespace selector with an unknown operator',
    resource: 'databaseclusters',
    object: edited(
      guideCluster,
      (o) => (o.spec.allowedNamespaces = { from: 'Selector', selector: { matchExpressions: [{ key: 'team', operator: 'Like' }] } }),
    ),
    field: 'spec.allowedNamespaces.selector.matchExpressions[0].operator',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Like": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
  },
  {
    name: 'a Service name that is not a DNS label',
    resource: 'databases',
    object: edited(guideDatabase, (o) => (o.spec.databaseServiceName = 'My_Service')),
    field: 'spec.databaseServiceName',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "My_Service": spec.databaseServiceName in body should match \'^[a-z]([-a-z0-9]*[a-z0-9])?$\'',
  },
  {
    name: 'a password given as a string',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => (o.spec.password = 'hunter2')),
    field: 'spec.password',
    type: 'FieldValueInvalid',
    message: 'Invalid value: "string": spec.password in body must be of type object: "string"',
  },
  {
    name: 'a reclaim policy that does not exist',
    resource: 'databases',
    object: edited(guideDatabase, (o) => (o.spec.reclaimPolicy = 'Keep')),
    field: 'spec.reclaimPolicy',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Keep": supported values: "Retain", "Delete"',
  },
  {
    name: 'an object without spec',
    resource: 'databases',
    object: edited(guideDatabase, (o) => delete o.spec),
    field: 'spec',
    type: 'FieldValueRequired',
    message: 'Required value',
  },
  {
    name: 'an object of another kind',
    resource: 'databases',
    object: edited(guideDatabase, (o) => (o.kind = 'Secret')),
    field: 'kind',
    type: 'FieldValueNotSupported',
    message: 'Unsupported value: "Secret": supported values: "Database"',
  },
];

for (const c of rejected) {
  test(`rejects ${c.name}`, (t) => {
    t.deepEqual(validate(c.object, kinds[c.resource]), [{ field: c.field, type: c.type, message: c.message }]);
  });
}

test('every fault of an object comes back at once', (t) => {
  const role = edited(guideRole, (o) => {
    delete o.spec.roleName;
    o.spec.login = 'yes';
    o.spec.permissions[0].schemas[0].tables[0].name = 5;
  });
  t.deepEqual(
    validate(role, kinds.databaseroles)
      .map((e) => e.field)
      .sort(),
    ['spec.login', 'spec.permissions[0].schemas[0].tables[0].name', 'spec.roleName'],
  );
});

test('status is not validated on create or update, only through the status subresource', (t) => {
  const role = edited(guideRole, (o) => (o.status = { exists: 'maybe', conditions: [{ type: 'Ready', status: 'Maybe' }] }));
  t.deepEqual(validate(role, kinds.databaseroles), []);
  t.deepEqual(
    validate(role, kinds.databaseroles, { status: true })
      .map((e) => `${e.field} ${e.type}`)
      .sort(),
    [
      'status.conditions[0].lastTransitionTime FieldValueRequired',
      'status.conditions[0].message FieldValueRequired',
      'status.conditions[0].reason FieldValueRequired',
      'status.conditions[0].status FieldValueNotSupported',
      'status.exists FieldValueInvalid',
    ],
  );
});

test("the catalog's drift entries have the shape of status.drift", (t) => {
  const entry: Drift = {
    kind: 'table',
    database: 'my_app_db_production',
    schema: 'public',
    object: '*',
    privilege: 'DELETE',
    expected: 'granted',
    actual: 'revoked',
  };
  const drift: DriftEntry[] = [entry];
  const role = edited(guideRole, (o) => (o.status = { drift, observedGeneration: 3 }));
  t.deepEqual(validate(role, kinds.databaseroles, { status: true }), []);
});

const unknown: { name: string; resource: Resource; object: Json; fields: string[] }[] = [
  { name: 'a field under spec', resource: 'databaseclusters', object: edited(guideCluster, (o) => (o.spec.x = 1)), fields: ['spec.x'] },
  {
    name: 'fields deep in permissions',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => {
      o.spec.permissions[0].foo = true;
      o.spec.permissions[0].schemas[0].tables[0].owner = 'me';
    }),
    fields: ['spec.permissions[0].foo', 'spec.permissions[0].schemas[0].tables[0].owner'],
  },
  { name: 'a field beside spec', resource: 'databases', object: edited(guideDatabase, (o) => (o.extra = {})), fields: ['extra'] },
  {
    name: 'a field under status',
    resource: 'databases',
    object: edited(guideDatabase, (o) => (o.status = { mood: 'good' })),
    fields: ['status.mood'],
  },
  {
    name: 'a field named like a member of Object.prototype',
    resource: 'databases',
    object: edited(guideDatabase, (o) => (o.spec.constructor = 'x')),
    fields: ['spec.constructor'],
  },
  {
    name: 'superuser, which the schema does not have',
    resource: 'databaseroles',
    object: edited(guideRole, (o) => (o.spec.superuser = true)),
    fields: ['spec.superuser'],
  },
  {
    name: 'nothing in metadata (ObjectMeta is the server’s)',
    resource: 'databases',
    object: edited(guideDatabase, (o) => (o.metadata.whatever = 1)),
    fields: [],
  },
  {
    name: 'nothing in a map (label values)',
    resource: 'databaseclusters',
    object: edited(guideCluster, (o) => (o.spec.allowedNamespaces = { from: 'Selector', selector: { matchLabels: { anything: 'goes' } } })),
    fields: [],
  },
];

for (const c of unknown) {
  test(`unknown fields: ${c.name}`, (t) => {
    const kind = kinds[c.resource];
    t.deepEqual(unknownFields(c.object, kind), c.fields);
    const pruned = pruneUnknownFields(c.object, kind);
    t.deepEqual(unknownFields(pruned, kind), [], 'pruning drops exactly them');
    t.deepEqual(validate(pruned, kind), []);
  });
}

test('pruning keeps every known field and leaves the input alone', (t) => {
  const role = edited(guideRole, (o) => (o.spec.permissions[0].foo = true));
  t.deepEqual(pruneUnknownFields(role, kinds.databaseroles), guideRole);
  t.true(role.spec.permissions[0].foo);
});
