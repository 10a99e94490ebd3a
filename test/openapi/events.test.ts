// The OpenAPI documents of events.k8s.io/v1 as local mode serves them: the Event and its list with their GVKs and
// kube-apiserver's definition names, a description on every field, PATCH with fieldValidation (kubectl then
// validates on the server), no status subresource; /openapi/v2 with our kinds and the Event in one document.
import test from 'ava';
import { eventsOpenAPIDocument } from '../../apiserver/groups.ts';
import { openAPIV2, openAPIV2With } from '../../openapi/document.ts';
import { eventSchema, eventsV1Documented } from '../../openapi/events.ts';
import { unknownFieldsIn } from '../../openapi/validate.ts';
import { fieldsOf } from '../../openapi/walk.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const v3: Json = eventsOpenAPIDocument();
const v2: Json = JSON.parse(openAPIV2With([eventsV1Documented]).json);
const eventGvk = { group: 'events.k8s.io', kind: 'Event', version: 'v1' };

test('v3: Event and EventList carry their GVKs under the names kube-apiserver gives them', (t) => {
  const schemas = v3.components.schemas as Json;
  t.deepEqual(schemas['io.k8s.api.events.v1.Event']['x-kubernetes-group-version-kind'], [eventGvk]);
  t.deepEqual(schemas['io.k8s.api.events.v1.EventList']['x-kubernetes-group-version-kind'], [{ ...eventGvk, kind: 'EventList' }]);
  t.deepEqual(schemas['io.k8s.api.events.v1.Event'].required, ['eventTime']);
  t.deepEqual(schemas['io.k8s.api.events.v1.Event'].properties.regarding.allOf, [
    { $ref: '#/components/schemas/io.k8s.api.core.v1.ObjectReference' },
  ]);
  for (const name of ['io.k8s.api.core.v1.ObjectReference', 'io.k8s.api.core.v1.EventSource', 'io.k8s.api.events.v1.EventSeries'])
    t.truthy(schemas[name], name);
});

test('v3: every field of every definition has a description', (t) => {
  const missing = Object.entries(v3.components.schemas as Json).flatMap(([name, schema]) =>
    fieldsOf(schema)
      .filter((f) => !f.schema.description && !f.schema.allOf)
      .map((f) => `${name}: ${f.path}`),
  );
  t.deepEqual(missing, []);
});

test('v3: the paths of a namespaced kind without status, PATCH listing fieldValidation, each operation naming the Event', (t) => {
  const root = '/apis/events.k8s.io/v1';
  t.deepEqual(Object.keys(v3.paths).sort(), [
    `${root}/events`,
    `${root}/namespaces/{namespace}/events`,
    `${root}/namespaces/{namespace}/events/{name}`,
  ]);
  const patch = v3.paths[`${root}/namespaces/{namespace}/events/{name}`].patch;
  t.true(patch.parameters.some((p: Json) => p.name === 'fieldValidation'));
  t.is(patch.operationId, 'patchEventsV1NamespacedEvent');
  t.deepEqual(patch.tags, ['events_v1']);
  for (const item of Object.values(v3.paths as Json))
    for (const op of Object.values(item as Json).filter((o) => typeof o === 'object' && o !== null && 'x-kubernetes-action' in o))
      t.deepEqual((op as Json)['x-kubernetes-group-version-kind'].kind.replace('List', ''), 'Event');
});

test('v2 in local mode: our kinds and the Event in one document, ours as /openapi/v2 serves them in a cluster', (t) => {
  const ours: Json = JSON.parse(openAPIV2().json);
  for (const [path, item] of Object.entries(ours.paths as Json)) t.deepEqual(v2.paths[path], item, path);
  for (const [name, schema] of Object.entries(ours.definitions as Json)) t.deepEqual(v2.definitions[name], schema, name);
  t.truthy(v2.paths['/apis/events.k8s.io/v1/namespaces/{namespace}/events/{name}'].patch);
  t.deepEqual(v2.definitions['io.k8s.api.events.v1.Event']['x-kubernetes-group-version-kind'], [eventGvk]);
});

test('the schema tells the fields an Event does not have, nested ones too; metadata keeps what it holds', (t) => {
  const event = {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: 'e', labels: { a: 'b' }, anything: 1 },
    eventTime: '2026-12-05T01:02:03.123456Z',
    message: 'a core v1 field',
    regarding: { kind: 'Pod', name: 'p', colour: 'red' },
    series: { count: 2, lastObservedTime: '2026-12-05T01:02:03.123456Z', extra: true },
  };
  t.deepEqual(unknownFieldsIn(event, eventSchema), ['message', 'regarding.colour', 'series.extra']);
});
