// The REST operations of each kind as the OpenAPI documents list them (one neutral shape, rendered as Swagger 2.0
// and OpenAPI 3.0 by document.ts), and the definitions of a kind and its list.
import { objectSchema, type KindDescriptor } from './kind.ts';
import { deleteOptions, listFields, patch, status } from './meta.ts';
import { array, object, refersTo, type Definition, type Schema } from './schema.ts';

export type Action = 'get' | 'list' | 'watch' | 'post' | 'put' | 'patch' | 'delete' | 'deletecollection';
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Parameter {
  name: string;
  in: 'path' | 'query';
  type: 'string' | 'integer' | 'boolean';
  description: string;
}

export interface Operation {
  method: Method;
  action: Action;
  operationId: string;
  description: string;
  /** The query parameters; kubectl looks for fieldValidation on PATCH operations themselves. */
  query: Parameter[];
  body?: { definition: Definition; contentTypes: readonly string[] };
  produces: readonly string[];
  /** status code -> what the response holds */
  responses: Record<string, { description: string; definition: Definition }>;
}

export interface PathItem {
  path: string;
  kind: DocumentedKind;
  parameters: Parameter[];
  operations: Operation[];
}

/** What PATCH accepts. Not strategic merge patch: kubectl then sends merge patches, as it does for CRDs. */
export const patchContentTypes = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'] as const;

const json = ['application/json'];
const watchable = ['application/json', 'application/json;stream=watch'];

const queryDescriptions = {
  pretty: ['string', 'If "true", the output is indented.'],
  dryRun: ['string', 'All: validate and plan, change nothing. No other value is accepted.'],
  fieldManager: ['string', 'The name of the actor making the change, for server-side apply (at most 128 printable characters).'],
  fieldValidation: [
    'string',
    'What to do with fields the schema does not have: Ignore drops them; Warn (the default) drops them with a warning; Strict refuses the request.',
  ],
  force: ['boolean', 'Apply requests only: take over fields other managers own.'],
  allowWatchBookmarks: ['boolean', 'Watch only: send BOOKMARK events.'],
  continue: ['string', 'The continue token of the previous page.'],
  fieldSelector: ['string', 'Only objects whose fields match: metadata.name and metadata.namespace.'],
  labelSelector: ['string', 'Only objects whose labels match.'],
  limit: ['integer', 'At most this many items; the list metadata carries a continue token when there are more.'],
  resourceVersion: ['string', 'Which version of the collection to read or to watch from.'],
  resourceVersionMatch: ['string', 'How resourceVersion applies to a list: NotOlderThan or Exact.'],
  sendInitialEvents: ['boolean', 'Watch only: start with an ADDED event per object, then a BOOKMARK marking their end.'],
  timeoutSeconds: ['integer', 'The longest a list or watch lasts.'],
  watch: ['boolean', 'Watch for changes instead of listing.'],
  gracePeriodSeconds: ['integer', 'Seconds before the object is deleted; zero deletes now.'],
  orphanDependents: ['boolean', 'Deprecated: use propagationPolicy.'],
  propagationPolicy: ['string', 'Whether and how dependents are deleted: Orphan, Background or Foreground.'],
} as const;

type QueryName = keyof typeof queryDescriptions;

function query(...names: QueryName[]): Parameter[] {
  return names.map((name) => ({ name, in: 'query', type: queryDescriptions[name][0], description: queryDescriptions[name][1] }));
}

const listQuery = [
  'allowWatchBookmarks',
  'continue',
  'fieldSelector',
  'labelSelector',
  'limit',
  'resourceVersion',
  'resourceVersionMatch',
  'sendInitialEvents',
  'timeoutSeconds',
] as const;
const writeQuery = ['dryRun', 'fieldManager', 'fieldValidation'] as const;
const deleteQuery = ['dryRun', 'gracePeriodSeconds', 'orphanDependents', 'propagationPolicy'] as const;

const pathParameters: Record<string, Parameter> = {
  namespace: { name: 'namespace', in: 'path', type: 'string', description: 'The namespace of the objects.' },
  name: { name: 'name', in: 'path', type: 'string', description: 'The name of the object.' },
};

/**
 * What the documents need of a kind: its names and scope, the definition of one object (its schema carries its
 * x-kubernetes-group-version-kind), and whether it has a status subresource. Ours are `documented(kind)`; the
 * Kubernetes kinds local mode serves (events.k8s.io/v1 Event) bring their own definition.
 */
export interface DocumentedKind {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  namespaced: boolean;
  definition: Definition;
  statusSubresource: boolean;
}

/** dev.dinhloc.databases.postgres.v1alpha1.<Kind>: the reversed group, as kube-apiserver names CRD definitions. */
function definitionName(kind: KindDescriptor, name: string): string {
  return `${kind.group.split('.').reverse().join('.')}.${kind.version}.${name}`;
}

/** On a schema, in an array; on an operation, alone (kubectl finds a resource's kind through it). */
export function gvk(kind: Pick<DocumentedKind, 'group' | 'version' | 'kind'>, name = kind.kind) {
  return { group: kind.group, kind: name, version: kind.version };
}

export function kindDefinition(kind: KindDescriptor): Definition {
  const schema = { ...objectSchema(kind), 'x-kubernetes-group-version-kind': [gvk(kind)] };
  return { name: definitionName(kind, kind.kind), schema };
}

/** One of our kinds as the documents show it. */
export function documented(kind: KindDescriptor): DocumentedKind {
  const { group, version, listKind, plural, namespaced } = kind;
  return { group, version, kind: kind.kind, listKind, plural, namespaced, definition: kindDefinition(kind), statusSubresource: true };
}

/** The list's definition, named beside the kind's (`…v1alpha1.Database` → `…v1alpha1.DatabaseList`). */
export function listDefinition(kind: DocumentedKind): Definition {
  const schema: Schema = {
    ...object(
      `${kind.listKind} is a list of ${kind.kind}.`,
      { ...listFields, items: array(`The ${kind.plural}.`, refersTo(kind.definition)) },
      ['items'],
    ),
    'x-kubernetes-group-version-kind': [gvk(kind, kind.listKind)],
  };
  return { name: `${kind.definition.name.slice(0, -kind.kind.length)}${kind.listKind}`, schema };
}

function capitalized(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** A group as kube-apiserver's documents name it in tags and operation IDs: without `.k8s.io` (events.k8s.io → events). */
export function friendlyGroup(group: string): string {
  return group.replace(/\.k8s\.io$/, '');
}

/** Operation IDs as kube-apiserver forms them: listPostgresDatabasesDinhlocDevV1alpha1NamespacedDatabase, listEventsV1NamespacedEvent. */
function operationId(
  verb: string,
  kind: DocumentedKind,
  shape: { collection?: boolean; allNamespaces?: boolean; status?: boolean },
): string {
  const groupVersion = [...friendlyGroup(kind.group).split('.'), kind.version].map(capitalized).join('');
  const scope = kind.namespaced && !shape.allNamespaces ? 'Namespaced' : '';
  return `${verb}${groupVersion}${shape.collection ? 'Collection' : ''}${scope}${kind.kind}${shape.status ? 'Status' : ''}${shape.allNamespaces ? 'ForAllNamespaces' : ''}`;
}

function ok(definition: Definition, ...codes: string[]) {
  const descriptions: Record<string, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted' };
  return Object.fromEntries(codes.map((code) => [code, { description: descriptions[code]!, definition }]));
}

/** GET on a collection lists, or watches with `watch`: one operation, as kube-apiserver documents it. */
function listOperation(kind: DocumentedKind, allNamespaces: boolean): Operation {
  return {
    method: 'get',
    action: 'list',
    operationId: operationId('list', kind, { allNamespaces }),
    description: `list or watch objects of kind ${kind.kind}`,
    query: query('pretty', ...listQuery, 'watch'),
    produces: watchable,
    responses: ok(listDefinition(kind), '200'),
  };
}

function collectionOperations(kind: DocumentedKind): Operation[] {
  const one = kind.definition;
  const list = listDefinition(kind);
  return [
    listOperation(kind, false),
    {
      method: 'post',
      action: 'post',
      operationId: operationId('create', kind, {}),
      description: `create a ${kind.kind}`,
      query: query('pretty', ...writeQuery),
      body: { definition: one, contentTypes: json },
      produces: json,
      responses: ok(one, '200', '201', '202'),
    },
    {
      method: 'delete',
      action: 'deletecollection',
      operationId: operationId('delete', kind, { collection: true }),
      description: `delete collection of ${kind.kind}`,
      query: query('pretty', ...listQuery, ...deleteQuery),
      body: { definition: deleteOptions, contentTypes: json },
      produces: json,
      responses: ok(list, '200'),
    },
  ];
}

/** The object itself, or (status) its status subresource, which has no delete. */
function itemOperations(kind: DocumentedKind, status: boolean): Operation[] {
  const one = kind.definition;
  const what = status ? `status of the specified ${kind.kind}` : `the specified ${kind.kind}`;
  const operations: Operation[] = [
    {
      method: 'get',
      action: 'get',
      operationId: operationId('read', kind, { status }),
      description: `read ${what}`,
      query: query('pretty'),
      produces: json,
      responses: ok(one, '200'),
    },
    {
      method: 'put',
      action: 'put',
      operationId: operationId('replace', kind, { status }),
      description: `replace ${what}`,
      query: query('pretty', ...writeQuery),
      body: { definition: one, contentTypes: json },
      produces: json,
      responses: ok(one, '200', '201'),
    },
    {
      method: 'patch',
      action: 'patch',
      operationId: operationId('patch', kind, { status }),
      description: `partially update ${what}`,
      query: query('pretty', ...writeQuery, 'force'),
      body: { definition: patch, contentTypes: patchContentTypes },
      produces: json,
      responses: ok(one, '200', '201'),
    },
  ];
  if (status) return operations;
  return [
    ...operations,
    {
      method: 'delete',
      action: 'delete',
      operationId: operationId('delete', kind, {}),
      description: `delete a ${kind.kind}`,
      query: query('pretty', ...deleteQuery),
      body: { definition: deleteOptions, contentTypes: json },
      produces: json,
      responses: ok(one, '200', '202'),
    },
  ];
}

function parametersOf(path: string): Parameter[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => pathParameters[name!]!);
}

/** Every path of a kind: its collection, each object, each object's status, and (namespaced kinds) all namespaces. */
export function pathsOf(kind: DocumentedKind): PathItem[] {
  const root = `/apis/${kind.group}/${kind.version}`;
  const collection = `${root}${kind.namespaced ? '/namespaces/{namespace}' : ''}/${kind.plural}`;
  const items: [string, Operation[]][] = [
    [collection, collectionOperations(kind)],
    [`${collection}/{name}`, itemOperations(kind, false)],
    ...(kind.statusSubresource ? [[`${collection}/{name}/status`, itemOperations(kind, true)] as [string, Operation[]]] : []),
  ];
  if (kind.namespaced) items.push([`${root}/${kind.plural}`, [listOperation(kind, true)]]);
  return items.map(([path, operations]) => ({ path, kind, parameters: parametersOf(path), operations }));
}

/** Definitions every document has, whether or not an operation names them. */
export const sharedDefinitions: Definition[] = [status];
