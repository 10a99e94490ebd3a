// events.k8s.io/v1 Event as k8s.io/api/events/v1 defines it, with the definition names kube-apiserver serves:
// what `kubectl explain events.v1.events.k8s.io` reads, and what tells a field the schema does not have (local
// mode serves the group from its store of core v1 Events).
import { objectFields, timestamp } from './meta.ts';
import type { DocumentedKind } from './operations.ts';
import { integer, object, refersTo, text, type Definition, type Schema } from './schema.ts';

export const eventsGroup = 'events.k8s.io';
export const eventsVersion = 'v1';

const microTime: Definition = {
  name: 'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime',
  schema: text('MicroTime is a timestamp in RFC 3339 form with microseconds.', { format: 'date-time' }),
};

const objectReference: Definition = {
  name: 'io.k8s.api.core.v1.ObjectReference',
  schema: {
    ...object('ObjectReference names an object: enough to find it and to tell which version of it was meant.', {
      apiVersion: text('API version of the referent.'),
      fieldPath: text('A part of the object rather than all of it, such as spec.containers{name}.'),
      kind: text('Kind of the referent.'),
      name: text('Name of the referent.'),
      namespace: text('Namespace of the referent.'),
      resourceVersion: text('The resourceVersion of the referent this reference was made at.'),
      uid: text('UID of the referent.'),
    }),
    'x-kubernetes-map-type': 'atomic',
  },
};

const eventSource: Definition = {
  name: 'io.k8s.api.core.v1.EventSource',
  schema: object('EventSource is the component (and host) that reported an event.', {
    component: text('The component that generated the event.'),
    host: text('The node that generated the event.'),
  }),
};

const eventSeries: Definition = {
  name: 'io.k8s.api.events.v1.EventSeries',
  schema: object(
    'EventSeries is how often an event has happened and when it last did, for an event that keeps happening.',
    {
      count: integer('How many times the event has happened so far in this series.'),
      lastObservedTime: refersTo(microTime, text('When the event was last seen.', { format: 'date-time' })),
    },
    ['count', 'lastObservedTime'],
  ),
};

/** A field of a definition's type: shown as a reference, its fields checked as the definition's. */
const field = (definition: Definition, description: string) => refersTo(definition, { ...definition.schema, description });

/** The whole object; its fields are top level (no spec or status). */
export const eventSchema: Schema = {
  ...object(
    'Event is a report of something that happened in the cluster. It is no message of record: it may be dropped, and it expires after a while.',
    {
      ...objectFields,
      action: text('What was done, or what failed, about the regarding object (at most 128 characters).'),
      deprecatedCount: integer('The count of the core/v1 Event this one is; kept for compatibility with core/v1.'),
      deprecatedFirstTimestamp: timestamp('The firstTimestamp of the core/v1 Event this one is; kept for compatibility with core/v1.'),
      deprecatedLastTimestamp: timestamp('The lastTimestamp of the core/v1 Event this one is; kept for compatibility with core/v1.'),
      deprecatedSource: field(eventSource, 'The source of the core/v1 Event this one is; kept for compatibility with core/v1.'),
      eventTime: refersTo(microTime, text('When the event was first observed. Required.', { format: 'date-time' })),
      note: text('A human-readable description of the status of this operation (at most 1 kB).'),
      reason: text('Why the action was taken, in CamelCase, for machines (at most 128 characters).'),
      regarding: field(objectReference, 'The object this event is about.'),
      related: field(objectReference, 'A second object involved, when there is one (the Node a Pod was scheduled on, say).'),
      reportingController: text('The name of the controller that emitted the event, such as example.com/my-controller.'),
      reportingInstance: text('The ID of the controller instance that emitted the event (at most 128 characters).'),
      series: field(eventSeries, 'The series this event belongs to, when it keeps happening.'),
      type: text('The type of the event: Normal or Warning.'),
    },
    ['eventTime'],
  ),
  'x-kubernetes-group-version-kind': [{ group: eventsGroup, kind: 'Event', version: eventsVersion }],
};

/** events.k8s.io/v1 Event as the OpenAPI documents show it. */
export const eventsV1Documented: DocumentedKind = {
  group: eventsGroup,
  version: eventsVersion,
  kind: 'Event',
  listKind: 'EventList',
  plural: 'events',
  namespaced: true,
  definition: { name: 'io.k8s.api.events.v1.Event', schema: eventSchema },
  statusSubresource: false,
};
