// Events between core v1 and events.k8s.io/v1, as kube-apiserver converts them (pkg/apis/events/v1/conversion.go),
// and their validation (pkg/apis/core/validation/events.go): the legacy rules for every write, the strict ones
// for a create or update through events.k8s.io/v1.
import test from 'ava';
import {
  coreEventOf,
  eventsV1CreateErrors,
  eventsV1EventOf,
  eventsV1UpdateErrors,
  legacyEventErrors,
} from '../../reconcile/kinds/events.ts';
import type { KubeObject } from '../../openapi/objects.ts';

const metadata = { name: 'pod-a.1', namespace: 'default', uid: 'u-event', resourceVersion: '7' };

/** One Event with every field set, in both versions. */
const v1Event: KubeObject = {
  apiVersion: 'events.k8s.io/v1',
  kind: 'Event',
  metadata,
  eventTime: '2026-12-05T01:02:03.123456Z',
  series: { count: 3, lastObservedTime: '2026-12-05T01:09:00.000000Z' },
  reportingController: 'example.com/scheduler',
  reportingInstance: 'scheduler-1',
  action: 'Binding',
  reason: 'Scheduled',
  regarding: { apiVersion: 'v1', kind: 'Pod', name: 'pod-a', namespace: 'default', uid: 'u-pod', resourceVersion: '41' },
  related: { apiVersion: 'v1', kind: 'Node', name: 'node-1' },
  note: 'assigned pod-a to node-1',
  type: 'Normal',
  deprecatedSource: { component: 'scheduler', host: 'h1' },
  deprecatedFirstTimestamp: '2026-12-05T01:00:00Z',
  deprecatedLastTimestamp: '2026-12-05T01:09:00Z',
  deprecatedCount: 3,
};

const coreEvent: KubeObject = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata,
  eventTime: '2026-12-05T01:02:03.123456Z',
  series: { count: 3, lastObservedTime: '2026-12-05T01:09:00.000000Z' },
  reportingComponent: 'example.com/scheduler',
  reportingInstance: 'scheduler-1',
  action: 'Binding',
  reason: 'Scheduled',
  involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'pod-a', namespace: 'default', uid: 'u-pod', resourceVersion: '41' },
  related: { apiVersion: 'v1', kind: 'Node', name: 'node-1' },
  message: 'assigned pod-a to node-1',
  type: 'Normal',
  source: { component: 'scheduler', host: 'h1' },
  firstTimestamp: '2026-12-05T01:00:00Z',
  lastTimestamp: '2026-12-05T01:09:00Z',
  count: 3,
};

test('events.k8s.io/v1 → core v1 renames regarding, note, reportingController, deprecatedSource and the deprecated times and count', (t) => {
  t.deepEqual(coreEventOf(v1Event), coreEvent);
});

test('core v1 → events.k8s.io/v1 is the inverse, and a round trip loses nothing', (t) => {
  t.deepEqual(eventsV1EventOf(coreEvent), v1Event);
  t.deepEqual(eventsV1EventOf(coreEventOf(v1Event)), v1Event);
  t.deepEqual(coreEventOf(eventsV1EventOf(coreEvent)), coreEvent);
});

test("a null (Go's zero time a client sends) converts to no field at all", (t) => {
  const converted = coreEventOf({ ...v1Event, deprecatedFirstTimestamp: null, deprecatedLastTimestamp: null, series: null });
  t.false('firstTimestamp' in converted);
  t.false('lastTimestamp' in converted);
  t.false('series' in converted);
});

/** A new Event as client-go's events.k8s.io/v1 recorder posts it, in the core form validation reads. */
function recorded(fields: Record<string, unknown> = {}): KubeObject {
  const {
    deprecatedSource: _s,
    deprecatedFirstTimestamp: _f,
    deprecatedLastTimestamp: _l,
    deprecatedCount: _c,
    series: _series,
    ...rest
  } = v1Event;
  return coreEventOf({ ...rest, ...fields } as KubeObject);
}

const fieldsOf = (errors: { field: string }[]) => errors.map((e) => e.field);

const createCases: { name: string; event: KubeObject; fields: string[] }[] = [
  { name: 'what a recorder posts is valid', event: recorded(), fields: [] },
  { name: 'no eventTime', event: recorded({ eventTime: undefined }), fields: ['eventTime'] },
  {
    name: 'eventTime without who and what',
    event: recorded({ reportingController: '', reportingInstance: undefined, action: undefined, reason: undefined }),
    // Empty, and so neither a name part nor one that matches the pattern: three faults, as IsQualifiedName reports them.
    fields: ['reportingController', 'reportingController', 'reportingController', 'reportingInstance', 'action', 'reason'],
  },
  { name: 'a type other than Normal or Warning', event: recorded({ type: 'Info' }), fields: ['type'] },
  { name: 'no type', event: recorded({ type: undefined }), fields: ['type'] },
  {
    name: 'a reportingController that is no qualified name',
    event: recorded({ reportingController: 'a b' }),
    fields: ['reportingController'],
  },
  { name: 'a reason over 128 characters', event: recorded({ reason: 'R'.repeat(129) }), fields: ['reason'] },
  { name: 'a note over 1024 characters', event: recorded({ note: 'n'.repeat(1025) }), fields: ['message'] },
  {
    name: 'the core-only fields set',
    event: recorded({
      deprecatedSource: { component: 'x' },
      deprecatedFirstTimestamp: '2026-12-05T01:00:00Z',
      deprecatedLastTimestamp: '2026-12-05T01:00:00Z',
      deprecatedCount: 2,
    }),
    fields: ['firstTimestamp', 'lastTimestamp', 'count', 'source'],
  },
  {
    name: 'a series of one, with no last time',
    event: recorded({ series: { count: 1 } }),
    fields: ['series.count', 'series.lastObservedTime'],
  },
  {
    name: 'a namespaced object in another namespace',
    event: recorded({ regarding: { kind: 'Pod', name: 'p', namespace: 'team-b' } }),
    fields: [],
  },
  {
    name: 'a cluster-scoped object outside default and kube-system',
    event: recorded({ metadata: { ...metadata, namespace: 'team-b' }, regarding: { kind: 'Node', name: 'n' } }),
    fields: ['involvedObject.namespace'],
  },
];

for (const c of createCases) {
  test(`create through events.k8s.io/v1: ${c.name}`, (t) => {
    t.deepEqual(fieldsOf(eventsV1CreateErrors(c.event)), c.fields);
  });
}

test('the legacy rules: an Event without eventTime lives in its object’s namespace, or default for a cluster-scoped one', (t) => {
  const old = (namespace: string, involved?: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'e', namespace },
    involvedObject: { kind: 'DatabaseRole', name: 'r', ...(involved ? { namespace: involved } : {}) },
    reason: 'Applied',
  });
  t.deepEqual(legacyEventErrors(old('default', 'default')), []);
  t.deepEqual(legacyEventErrors(old('default')), []);
  t.deepEqual(fieldsOf(legacyEventErrors(old('team-a', 'default'))), ['involvedObject.namespace']);
  t.deepEqual(fieldsOf(legacyEventErrors(old('team-a'))), ['involvedObject.namespace']);
  t.regex(legacyEventErrors(old('team-a', 'default'))[0]!.message, /^Invalid value: "default": does not match event.namespace$/);
});

test('an update through events.k8s.io/v1 may change the series, nothing it reports', (t) => {
  const before = recorded();
  t.deepEqual(eventsV1UpdateErrors(recorded({ series: { count: 2, lastObservedTime: '2026-12-05T01:05:00.000000Z' } }), before), []);
  t.deepEqual(fieldsOf(eventsV1UpdateErrors(recorded({ series: { count: 1, lastObservedTime: 'x' } }), before)), ['series.count']);
  const changed = eventsV1UpdateErrors(recorded({ note: 'other', reportingController: 'example.com/other', action: 'Other' }), before);
  t.deepEqual(fieldsOf(changed), ['message', 'action', 'reportingController']);
  t.is(changed[0]!.message, 'Invalid value: "other": field is immutable');
});
