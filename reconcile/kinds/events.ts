// Events in local mode, as core v1 and as events.k8s.io/v1: one set of objects, kept in the store as core v1
// Events (kube-apiserver keeps one storage for both too) and converted as kube-apiserver converts them
// (pkg/apis/events/v1/conversion.go): regarding ↔ involvedObject, note ↔ message, reportingController ↔
// reportingComponent, deprecatedSource ↔ source, deprecatedFirstTimestamp, deprecatedLastTimestamp and
// deprecatedCount ↔ firstTimestamp, lastTimestamp and count; eventTime, series, reportingInstance, action,
// reason, related and type keep their names. Validation follows pkg/apis/core/validation/events.go: every write
// passes the legacy rules, a write through events.k8s.io/v1 the strict ones too, and its field paths are the
// core names, as kube-apiserver's are.
import { isDeepStrictEqual } from 'node:util';
import { eventsResource } from '../../storage/kubernetes/events.ts';
import { eventSchema, eventsGroup, eventsVersion } from '../../openapi/events.ts';
import type { FieldError } from '../../openapi/fields.ts';
import { nameErrors } from '../../openapi/names.ts';
import { stringColumn } from '../../openapi/kind.ts';
import type { KubeObject, PrinterColumn } from '../../openapi/objects.ts';
import { pruneUnknownFieldsIn, unknownFieldsIn } from '../../openapi/validate.ts';
import { isObject } from '../../lib/guards.ts';
import type { ResourceKind, Strategy } from './resource.ts';

/** events.k8s.io/v1 field → core v1 field. */
const coreNames: readonly (readonly [string, string])[] = [
  ['eventTime', 'eventTime'],
  ['series', 'series'],
  ['reportingController', 'reportingComponent'],
  ['reportingInstance', 'reportingInstance'],
  ['action', 'action'],
  ['reason', 'reason'],
  ['regarding', 'involvedObject'],
  ['related', 'related'],
  ['note', 'message'],
  ['type', 'type'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
];

/** The fields of `object` renamed (from → to); a null is Go's zero value, which is no value at all. */
function renamed(object: KubeObject, names: readonly (readonly [string, string])[]): Record<string, unknown> {
  return Object.fromEntries(
    names.filter(([from]) => object[from] !== undefined && object[from] !== null).map(([from, to]) => [to, object[from]]),
  );
}

/** An events.k8s.io/v1 Event as core v1 (Convert_v1_Event_To_core_Event). */
export function coreEventOf(event: KubeObject): KubeObject {
  return { apiVersion: 'v1', kind: 'Event', metadata: event.metadata, ...renamed(event, coreNames) };
}

/** A core v1 Event as events.k8s.io/v1 (Convert_core_Event_To_v1_Event). */
export function eventsV1EventOf(event: KubeObject): KubeObject {
  const names = coreNames.map(([v1, core]) => [core, v1] as const);
  return { apiVersion: `${eventsGroup}/${eventsVersion}`, kind: 'Event', metadata: event.metadata, ...renamed(event, names) };
}

// ---- Validation (on the core form) ----------------------------------------------------------------------------

interface Reference {
  namespace?: string;
}

/** Go's zero values (absent, null, "", 0, {}) are all "unset". */
function unset(value: unknown): boolean {
  return value === undefined || value === null || value === '' || value === 0 || (isObject(value) && Object.keys(value).length === 0);
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');

const required = (field: string): FieldError => ({ type: 'FieldValueRequired', field, message: 'Required value' });
const invalid = (field: string, value: unknown, why: string): FieldError => ({
  type: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
});

const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const subdomainMessage =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const qualifiedNameMessage =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

function subdomainErrors(value: string): string[] {
  return [...(value.length > 253 ? ['must be no more than 253 characters'] : []), ...(subdomain.test(value) ? [] : [subdomainMessage])];
}

/** apimachinery's IsQualifiedName: an optional DNS subdomain prefix and '/', then a name of at most 63 characters. */
function qualifiedNameErrors(value: string): string[] {
  const parts = value.split('/');
  if (parts.length > 2)
    return [`a qualified name ${qualifiedNameMessage} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  const errors: string[] = [];
  if (parts.length === 2) {
    if (parts[0] === '') errors.push('prefix part must be non-empty');
    else errors.push(...subdomainErrors(parts[0]!).map((e) => `prefix part ${e}`));
  }
  const name = parts.at(-1)!;
  if (name === '') errors.push('name part must be non-empty');
  else if (name.length > 63) errors.push('name part must be no more than 63 characters');
  if (!qualifiedName.test(name)) errors.push(`name part ${qualifiedNameMessage}`);
  return errors;
}

function tooLong(event: KubeObject, coreField: string, field: string, limit: number): FieldError[] {
  return text(event[coreField]).length > limit ? [invalid(field, '', `can have at most ${limit} characters`)] : [];
}

/** legacyValidateEvent: what every Event must be, whichever version writes it. */
export function legacyEventErrors(event: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  const namespace = event.metadata.namespace ?? '';
  const involved = text((event.involvedObject as Reference | undefined)?.namespace);
  const mismatch = invalid('involvedObject.namespace', involved, 'does not match event.namespace');
  if (unset(event.eventTime)) {
    // An old Event: its namespace is its object's, or (cluster-scoped objects) none or default.
    if (involved === '' ? namespace !== '' && namespace !== 'default' : namespace !== involved) errors.push(mismatch);
  } else {
    if (involved === '' && namespace !== 'default' && namespace !== 'kube-system') errors.push(mismatch);
    const controller = text(event.reportingComponent);
    if (controller === '') errors.push(required('reportingController'));
    for (const why of qualifiedNameErrors(controller)) errors.push(invalid('reportingController', controller, why));
    if (text(event.reportingInstance) === '') errors.push(required('reportingInstance'));
    errors.push(...tooLong(event, 'reportingInstance', 'reportingInstance', 128));
    if (text(event.action) === '') errors.push(required('action'));
    errors.push(...tooLong(event, 'action', 'action', 128));
    if (text(event.reason) === '') errors.push(required('reason'));
    errors.push(...tooLong(event, 'reason', 'reason', 128));
    errors.push(...tooLong(event, 'message', 'message', 1024));
  }
  for (const why of subdomainErrors(namespace)) errors.push(invalid('namespace', namespace, why));
  return errors;
}

function seriesErrors(event: KubeObject): FieldError[] {
  const series = event.series as { count?: unknown; lastObservedTime?: unknown } | undefined | null;
  if (!isObject(series)) return [];
  return [
    ...(typeof series.count === 'number' && series.count >= 2 ? [] : [invalid('series.count', '', 'should be at least 2')]),
    ...(unset(series.lastObservedTime) ? [required('series.lastObservedTime')] : []),
  ];
}

/** ValidateEventCreate for events.k8s.io/v1: a new Event says when, who and what, and none of the core-only fields. */
export function eventsV1CreateErrors(event: KubeObject): FieldError[] {
  const type = text(event.type);
  return [
    ...legacyEventErrors(event),
    ...seriesErrors(event),
    ...(unset(event.eventTime) ? [required('eventTime')] : []),
    ...(type === 'Normal' || type === 'Warning' ? [] : [invalid('type', '', `has invalid value: ${type}`)]),
    ...(['firstTimestamp', 'lastTimestamp', 'count'] as const)
      .filter((field) => !unset(event[field]))
      .map((field) => invalid(field, '', 'needs to be unset')),
    ...(unset(text((event.source as { component?: string } | undefined)?.component)) &&
    unset(text((event.source as { host?: string } | undefined)?.host))
      ? []
      : [invalid('source', '', 'needs to be unset')]),
  ];
}

/** The core fields an update through events.k8s.io/v1 may not change, by the path its errors name. */
const immutable: readonly (readonly [string, string])[] = [
  ['involvedObject', 'involvedObject'],
  ['reason', 'reason'],
  ['message', 'message'],
  ['source', 'source'],
  ['firstTimestamp', 'firstTimestamp'],
  ['lastTimestamp', 'lastTimestamp'],
  ['count', 'count'],
  ['type', 'type'],
  ['eventTime', 'eventTime'],
  ['action', 'action'],
  ['related', 'related'],
  ['reportingComponent', 'reportingController'],
  ['reportingInstance', 'reportingInstance'],
];

/** ValidateEventUpdate for events.k8s.io/v1: only the series (and metadata) of an Event change. */
export function eventsV1UpdateErrors(event: KubeObject, old: KubeObject): FieldError[] {
  const same = (a: unknown, b: unknown) => (unset(a) && unset(b)) || isDeepStrictEqual(a, b);
  return [
    ...legacyEventErrors(event),
    ...(same(event.series, old.series) ? [] : seriesErrors(event)),
    ...immutable
      .filter(([core]) => !same(event[core], old[core]))
      .map(([core, field]) => invalid(field, event[core] ?? null, 'field is immutable')),
  ];
}

// ---- Selection and columns ------------------------------------------------------------------------------------

const referenceFields = ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'] as const;

/**
 * The fields a fieldSelector matches on a core Event (EventToSelectableFields), `reference` and `controller`
 * named as the version asking names them; `source` is the source's component, else the reporting controller.
 */
function selectable(event: KubeObject, reference: string, controller: string): Record<string, string> {
  const involved = (isObject(event.involvedObject) ? event.involvedObject : {}) as Record<string, unknown>;
  const component = text((event.source as { component?: string } | undefined)?.component);
  return {
    ...Object.fromEntries(referenceFields.map((f) => [`${reference}.${f}`, text(involved[f])])),
    reason: text(event.reason),
    [controller]: text(event.reportingComponent),
    source: component || text(event.reportingComponent),
    type: text(event.type),
  };
}

const selectableNames = (reference: string, controller: string) => [
  ...referenceFields.map((f) => `${reference}.${f}`),
  'reason',
  controller,
  'source',
  'type',
];

/** LAST SEEN as kube-apiserver prints it: the series' last time, else lastTimestamp, else when it first happened. */
function lastSeen(event: KubeObject): unknown {
  const series = event.series as { lastObservedTime?: unknown } | undefined;
  return series?.lastObservedTime ?? event.lastTimestamp ?? event.firstTimestamp ?? event.eventTime;
}

/** The columns of `kubectl get events`, on the core form. */
const eventColumns: PrinterColumn[] = [
  { ...stringColumn('Last Seen', 'When the event last happened, shown as an age.', lastSeen), type: 'date' },
  stringColumn('Type', 'Normal or Warning.', (o) => o.type),
  stringColumn('Reason', 'Why it happened.', (o) => o.reason),
  stringColumn('Object', 'What it is about.', (o) => {
    const involved = (o.involvedObject ?? {}) as { kind?: string; name?: string };
    return `${involved.kind?.toLowerCase()}/${involved.name}`;
  }),
  stringColumn('Message', 'What happened.', (o) => o.message),
];

// ---- The kinds ------------------------------------------------------------------------------------------------

/** No schema for core v1 here: stored as sent, its name and the legacy rules checked. */
const coreStrategy: Strategy = {
  unknownFields: () => [],
  prune: (o) => o,
  withDefaults: (o) => o,
  validate: (o) => [...nameErrors(o.metadata.name), ...legacyEventErrors(o)],
};

/** What both Event kinds are called and how they are written. */
const eventNames = {
  kind: 'Event',
  plural: 'events',
  singular: 'event',
  namespaced: true,
  statusSubresource: false,
  // kubectl and client-go's recorder (a series' count) patch a built-in kind with a strategic merge patch.
  strategicMergePatch: true,
} as const;

/** core v1 Events (`kubectl get events`, `kubectl describe`, `kubectl events`). */
export const events: ResourceKind = {
  ...eventNames,
  group: '',
  version: 'v1',
  columns: eventColumns,
  strategy: coreStrategy,
  fields: {
    names: selectableNames('involvedObject', 'reportingComponent'),
    of: (o) => selectable(o, 'involvedObject', 'reportingComponent'),
  },
};

/** events.k8s.io/v1 Events: the same objects, converted; unknown fields are known from the schema. */
export const eventsV1: ResourceKind = {
  ...eventNames,
  group: eventsGroup,
  version: eventsVersion,
  columns: eventColumns.map((c) => ({ ...c, cell: (o: KubeObject) => c.cell(coreEventOf(o)) })),
  strategy: {
    unknownFields: (o) => unknownFieldsIn(o, eventSchema),
    prune: (o) => pruneUnknownFieldsIn(o, eventSchema),
    withDefaults: (o) => o,
    validate: (o, old) => [
      ...nameErrors(o.metadata.name),
      ...(old ? eventsV1UpdateErrors(coreEventOf(o), coreEventOf(old)) : eventsV1CreateErrors(coreEventOf(o))),
    ],
  },
  fields: {
    names: selectableNames('regarding', 'reportingController'),
    of: (o) => selectable(coreEventOf(o), 'regarding', 'reportingController'),
  },
  storedAs: { resource: eventsResource, toStored: coreEventOf, fromStored: eventsV1EventOf },
};
