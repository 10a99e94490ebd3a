// Server-side apply and field ownership (K8S-WIRE §6), as kube-apiserver's field manager keeps them: the fields an
// object or an applied configuration sets, in the FieldsV1 format of metadata.managedFields; the merge of an applied
// configuration into the live object; conflicts between managers; and the ownership every write leaves behind.
// Everything is pure but the few request helpers at the end.
import { Readable } from 'node:stream';
import type Koa from 'koa';
import { apiVersionOf, type ResourceKind } from '../reconcile/kinds/resource.ts';
import { badRequest, invalid, StatusError } from '../openapi/status.ts';
import type { KubeObject } from '../openapi/objects.ts';
import type { FieldError } from '../openapi/fields.ts';
import { rfc3339 } from '../lib/time.ts';
import { isObject } from '../lib/guards.ts';
import type { ListKeys } from '../openapi/schema.ts';

/** A field path as FieldsV1 spells its steps: `f:spec`, `k:{"database":"app"}`. */
export type FieldPath = readonly string[];

/** A set of field paths, each JSON-encoded so that a Set compares them by value. */
export type FieldSet = ReadonlySet<string>;

/** Lists merged item by item: the path of the list by field names (`spec.permissions.schemas`) → its items' key. */

export type Operation = 'Apply' | 'Update';

/** One entry of metadata.managedFields, its fieldsV1 decoded. */
export interface ManagedEntry {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time?: string;
  subresource?: string;
  fields: FieldSet;
}

/** What ownership needs to know of a kind and a request. */
export interface Management {
  apiVersion: string;
  keys: ListKeys;
  /** Fields nobody owns: apiVersion, kind, server-set metadata, and status outside the status subresource. */
  ignored(path: FieldPath): boolean;
  /** The object without the fields the kind does not know (they are pruned on write, so nobody owns them). */
  known(object: KubeObject): KubeObject;
  /** RFC 3339, seconds. */
  now: string;
}

export interface Conflict {
  /** The other manager, as kube-apiserver names it in messages: `"kubectl"`, `"kubectl-edit" using v1`. */
  manager: string;
  path: FieldPath;
}

// ---- Field paths and sets ------------------------------------------------------------------------------------

const encode = (path: FieldPath): string => JSON.stringify(path);
const decodePath = (path: string): string[] => JSON.parse(path) as string[];

function union(...sets: FieldSet[]): Set<string> {
  return new Set(sets.flatMap((s) => [...s]));
}

function minus(a: FieldSet, b: FieldSet): Set<string> {
  return new Set([...a].filter((p) => !b.has(p)));
}

function intersection(a: FieldSet, b: FieldSet): Set<string> {
  return new Set([...a].filter((p) => b.has(p)));
}

function sameSet(a: FieldSet, b: FieldSet): boolean {
  return a.size === b.size && [...a].every((p) => b.has(p));
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function startsWith(path: FieldPath, prefix: FieldPath): boolean {
  return prefix.length <= path.length && prefix.every((step, i) => path[i] === step);
}

/** `.spec.permissions[database="app"].privileges`, as conflicts name a field. */
export function pathString(path: FieldPath): string {
  return path
    .map((step) => {
      if (step.startsWith('f:')) return `.${step.slice(2)}`;
      const key = JSON.parse(step.slice(2)) as Record<string, unknown>;
      return `[${Object.entries(key)
        .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
        .join(',')}]`;
    })
    .join('');
}

/** The set as FieldsV1: `{"f:spec":{"f:roleName":{}}}`; `"."` marks a member that also has members below. */
export function toFieldsV1(set: FieldSet): Record<string, unknown> {
  interface Node {
    member: boolean;
    children: Map<string, Node>;
  }
  const root: Node = { member: false, children: new Map() };
  for (const path of set) {
    let node = root;
    for (const step of decodePath(path)) {
      if (!node.children.has(step)) node.children.set(step, { member: false, children: new Map() });
      node = node.children.get(step)!;
    }
    node.member = true;
  }
  const render = (node: Node): Record<string, unknown> => {
    const steps = [...node.children.keys()].sort(byCodeUnits);
    const children = steps.map((step) => [step, render(node.children.get(step)!)] as const);
    return Object.fromEntries(node.member && children.length > 0 ? [['.', {}], ...children] : children);
  };
  return render(root);
}

export function fromFieldsV1(fields: unknown): Set<string> {
  const set = new Set<string>();
  const visit = (path: string[], node: unknown) => {
    if (!isObject(node)) return;
    const steps = Object.entries(node);
    if (steps.length === 0 && path.length > 0) set.add(encode(path));
    for (const [step, child] of steps) {
      if (step === '.') set.add(encode(path));
      else if (step.startsWith('f:') || step.startsWith('k:')) visit([...path, step], child);
    }
  };
  visit([], fields);
  return set;
}

// ---- Objects as trees of fields -----------------------------------------------------------------------------

function keyOf(path: FieldPath, keys: ListKeys): string | undefined {
  return keys[
    path
      .filter((s) => s.startsWith('f:'))
      .map((s) => s.slice(2))
      .join('.')
  ];
}

/** The items of a list by their step; undefined when one has no scalar key or a key repeats (the list is atomic). */
function itemsByKey(list: unknown[], key: string): Map<string, unknown> | undefined {
  const items = new Map<string, unknown>();
  for (const item of list) {
    const value = isObject(item) ? item[key] : undefined;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
    const step = `k:${JSON.stringify({ [key]: value })}`;
    if (items.has(step)) return undefined;
    items.set(step, item);
  }
  return items;
}

interface Node {
  /** leaf: scalars, null and atomic lists; map: objects; list: lists merged by key. */
  shape: 'absent' | 'leaf' | 'map' | 'list';
  children: Map<string, unknown>;
}

function nodeOf(path: FieldPath, value: unknown, keys: ListKeys): Node {
  if (value === undefined) return { shape: 'absent', children: new Map() };
  if (isObject(value)) return { shape: 'map', children: new Map(Object.entries(value).map(([k, v]) => [`f:${k}`, v])) };
  const key = Array.isArray(value) ? keyOf(path, keys) : undefined;
  const items = key === undefined ? undefined : itemsByKey(value as unknown[], key);
  return items ? { shape: 'list', children: items } : { shape: 'leaf', children: new Map() };
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]));
  }
  return false;
}

/**
 * The fields a configuration sets, which its applier owns: every leaf (scalar, atomic list, empty object), and
 * every item of a keyed list with the fields below it. A null removes a field and is not owned.
 */
export function fieldSetOf(object: unknown, keys: ListKeys): Set<string> {
  const set = new Set<string>();
  const visit = (path: string[], value: unknown) => {
    const node = nodeOf(path, value, keys);
    if (node.shape === 'leaf' || (node.shape === 'map' && node.children.size === 0 && path.length > 0)) {
      set.add(encode(path));
      return;
    }
    for (const [step, child] of node.children) {
      if (child === null) continue;
      if (node.shape === 'list') set.add(encode([...path, step]));
      visit([...path, step], child);
    }
  };
  visit([], object);
  return set;
}

export interface Changes {
  added: Set<string>;
  modified: Set<string>;
  removed: Set<string>;
}

/** What changed from `before` to `after`: a field that appears or goes counts with every field below it. */
export function compare(before: unknown, after: unknown, keys: ListKeys): Changes {
  const changes: Changes = { added: new Set(), modified: new Set(), removed: new Set() };
  const below = (path: string[], value: unknown, into: Set<string>) => {
    for (const [step, child] of nodeOf(path, value, keys).children) {
      into.add(encode([...path, step]));
      below([...path, step], child, into);
    }
  };
  const visit = (path: string[], a: unknown, b: unknown) => {
    const x = nodeOf(path, a, keys);
    const y = nodeOf(path, b, keys);
    if (x.shape === 'absent' || y.shape === 'absent') {
      if (x.shape === y.shape) return;
      const [present, into] = x.shape === 'absent' ? [b, changes.added] : [a, changes.removed];
      into.add(encode(path));
      below(path, present, into);
      return;
    }
    if (x.shape !== y.shape || x.shape === 'leaf') {
      if (equal(a, b)) return;
      changes.modified.add(encode(path));
      below(path, a, changes.removed);
      below(path, b, changes.added);
      return;
    }
    for (const step of new Set([...x.children.keys(), ...y.children.keys()]))
      visit([...path, step], x.children.get(step), y.children.get(step));
  };
  visit([], before, after);
  return changes;
}

function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

/**
 * The configuration merged into the live object: objects field by field, keyed lists item by item (the live
 * order kept, the shared items in the configuration's order, new items after), anything else replaced. A null in
 * the configuration removes the field.
 */
export function merge(live: unknown, config: unknown, keys: ListKeys, path: FieldPath = []): unknown {
  if (config === undefined) return live;
  const x = nodeOf(path, live, keys);
  const y = nodeOf(path, config, keys);
  if (x.shape === 'map' && y.shape === 'map') {
    const out: Record<string, unknown> = { ...(live as Record<string, unknown>) };
    for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
      if (value === null) delete out[key];
      else out[key] = merge(out[key], value, keys, [...path, `f:${key}`]);
    }
    return out;
  }
  if (x.shape === 'list' && y.shape === 'list') {
    const out: unknown[] = [];
    const applied = [...y.children];
    let next = 0;
    // Emits the configuration's items up to its next item the live list also has.
    const takeUpToShared = () => {
      while (next < applied.length) {
        const [step, item] = applied[next++]!;
        out.push(merge(x.children.get(step), item, keys, [...path, step]));
        if (x.children.has(step)) return;
      }
    };
    for (const [step, item] of x.children) {
      if (y.children.has(step)) takeUpToShared();
      else out.push(item);
    }
    takeUpToShared();
    return out;
  }
  return withoutNulls(config);
}

function childAt(container: unknown, step: string): unknown {
  if (step.startsWith('f:')) return isObject(container) ? container[step.slice(2)] : undefined;
  const key = JSON.parse(step.slice(2)) as Record<string, unknown>;
  return Array.isArray(container)
    ? container.find((item) => isObject(item) && Object.entries(key).every(([k, v]) => item[k] === v))
    : undefined;
}

/** Removes the field at `path` from `object` in place; false when it was not there. */
function removeAt(object: unknown, path: FieldPath): boolean {
  const parent = path.slice(0, -1).reduce<unknown>((node, step) => childAt(node, step), object);
  const last = path[path.length - 1]!;
  if (last.startsWith('f:')) {
    if (!isObject(parent) || !Object.hasOwn(parent, last.slice(2))) return false;
    delete parent[last.slice(2)];
    return true;
  }
  const item = childAt(parent, last);
  if (item === undefined) return false;
  (parent as unknown[]).splice((parent as unknown[]).indexOf(item), 1);
  return true;
}

function isEmptyAt(object: unknown, path: FieldPath): boolean {
  const value = path.reduce<unknown>((node, step) => childAt(node, step), object);
  return (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);
}

/** The key field of a keyed list item (`k:{"name":"x"}` then `f:name`): it goes with its item, never alone. */
function isItemKey(path: FieldPath): boolean {
  const item = path[path.length - 2];
  return item !== undefined && item.startsWith('k:') && Object.hasOwn(JSON.parse(item.slice(2)) as object, path[path.length - 1]!.slice(2));
}

/**
 * `object` without the `stale` fields (what an applier owned and no longer applies) that nobody owns, nor owns
 * anything below. An object or list left empty by a removal goes too, below the top-level fields.
 */
export function prune(object: KubeObject, stale: FieldSet, owned: FieldSet): KubeObject {
  const out = structuredClone(object);
  const ownedPaths = [...owned].map(decodePath);
  const ownedAtOrBelow = (path: FieldPath) => ownedPaths.some((p) => startsWith(p, path));
  for (const path of [...stale].map(decodePath)) {
    if (ownedAtOrBelow(path) || isItemKey(path) || !removeAt(out, path)) continue;
    for (
      let parent = path.slice(0, -1);
      parent.length >= 2 && isEmptyAt(out, parent) && !ownedAtOrBelow(parent);
      parent = parent.slice(0, -1)
    ) {
      removeAt(out, parent);
    }
  }
  return out;
}

// ---- metadata.managedFields ---------------------------------------------------------------------------------

/** The decodable entries of an object's metadata.managedFields; malformed ones are dropped. */
export function managedEntriesOf(value: unknown): ManagedEntry[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry): ManagedEntry[] => {
    if (!isObject(entry) || (entry.operation !== 'Apply' && entry.operation !== 'Update') || typeof entry.apiVersion !== 'string')
      return [];
    if (entry.fieldsType !== undefined && entry.fieldsType !== 'FieldsV1') return [];
    return [
      {
        manager: typeof entry.manager === 'string' ? entry.manager : '',
        operation: entry.operation,
        apiVersion: entry.apiVersion,
        ...(typeof entry.time === 'string' ? { time: entry.time } : {}),
        ...(typeof entry.subresource === 'string' && entry.subresource ? { subresource: entry.subresource } : {}),
        fields: fromFieldsV1(entry.fieldsV1),
      },
    ];
  });
}

/** As kube-apiserver orders them: appliers first, then oldest first, then by manager. */
function byOrder(a: ManagedEntry, b: ManagedEntry): number {
  if (a.operation !== b.operation) return a.operation < b.operation ? -1 : 1;
  return (
    byCodeUnits(a.time ?? '', b.time ?? '') ||
    byCodeUnits(a.manager, b.manager) ||
    byCodeUnits(a.apiVersion, b.apiVersion) ||
    byCodeUnits(a.subresource ?? '', b.subresource ?? '')
  );
}

function encodeManagedEntries(entries: readonly ManagedEntry[]): Record<string, unknown>[] {
  return [...entries].sort(byOrder).map((e) => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: e.apiVersion,
    ...(e.time ? { time: e.time } : {}),
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(e.fields),
    ...(e.subresource ? { subresource: e.subresource } : {}),
  }));
}

function withManagedEntries(object: KubeObject, entries: readonly ManagedEntry[]): KubeObject {
  const { managedFields: _old, ...metadata } = object.metadata;
  return {
    ...object,
    metadata: (entries.length > 0 ? { ...metadata, managedFields: encodeManagedEntries(entries) } : metadata) as KubeObject['metadata'],
  };
}

/** At most this many Update entries; the oldest are merged into one, as kube-apiserver caps them. */
const maxUpdateManagers = 10;
const ancientChanges = 'ancient-changes';

function capped(entries: ManagedEntry[]): ManagedEntry[] {
  const updates = entries.filter((e) => e.operation === 'Update').sort(byOrder);
  if (updates.length <= maxUpdateManagers) return entries;
  const oldest = updates.slice(0, updates.length - maxUpdateManagers + 1);
  const newest = oldest[oldest.length - 1]!;
  const bucket: ManagedEntry = {
    manager: ancientChanges,
    operation: 'Update',
    apiVersion: newest.apiVersion,
    ...(newest.time ? { time: newest.time } : {}),
    fields: union(...oldest.map((e) => e.fields)),
  };
  return [...entries.filter((e) => !oldest.includes(e)), bucket];
}

function printedManager(entry: ManagedEntry): string {
  const name = `${JSON.stringify(entry.manager)}${entry.subresource ? ` with subresource ${JSON.stringify(entry.subresource)}` : ''}`;
  return entry.operation === 'Update' ? `${name} using ${entry.apiVersion}` : name;
}

function ownable(set: FieldSet, m: Management): Set<string> {
  return new Set([...set].filter((p) => !m.ignored(decodePath(p))));
}

/**
 * Applies `config` for `manager` to `live` (undefined: the object is created). The result is the merged object
 * with the fields this manager applied before and no longer applies removed (unless another manager owns them),
 * and its managedFields; or the conflicts: fields another manager owns that the apply would change. With `force`
 * the applier takes them over.
 */
export function applyConfiguration(
  live: KubeObject | undefined,
  config: KubeObject,
  manager: string,
  force: boolean,
  m: Management,
): { object: KubeObject } | { conflicts: Conflict[] } {
  const entries = managedEntriesOf(live?.metadata.managedFields);
  const self = entries.find((e) => e.operation === 'Apply' && e.manager === manager && !e.subresource);
  const others = entries.filter((e) => e !== self);
  const applied = ownable(fieldSetOf(m.known(config), m.keys), m);
  const base = live ?? ({} as KubeObject);
  let merged = merge(base, config, m.keys) as KubeObject;
  if (self) merged = prune(merged, minus(self.fields, applied), union(applied, ...others.map((e) => e.fields)));

  const changes = compare(base, merged, m.keys);
  const changed = ownable(union(changes.added, changes.modified, changes.removed), m);
  const conflicts = others.flatMap((e) =>
    [...intersection(e.fields, changed)].map((p) => ({ manager: printedManager(e), path: decodePath(p) })),
  );
  if (conflicts.length > 0 && !force) return { conflicts: conflicts.sort(byManagerThenPath) };

  const kept = others.map((e) => ({ ...e, fields: minus(e.fields, changed) })).filter((e) => e.fields.size > 0);
  const touched = !self || changed.size > 0 || !sameSet(self.fields, applied);
  const time = touched ? m.now : self.time;
  const mine: ManagedEntry[] =
    applied.size === 0 ? [] : [{ manager, operation: 'Apply', apiVersion: m.apiVersion, ...(time ? { time } : {}), fields: applied }];
  return { object: withManagedEntries(merged, [...kept, ...mine]) };
}

/** `managedFields: [{}]` asks for them to be cleared. */
function isReset(managedFields: unknown): boolean {
  return (
    Array.isArray(managedFields) && managedFields.length === 1 && isObject(managedFields[0]) && Object.keys(managedFields[0]).length === 0
  );
}

/**
 * `next`, written over `old` (undefined: created) by a non-apply write (create, update, merge or JSON patch) of
 * `manager`, with its Update entry owning what it changed; other managers lose what it changed. managedFields the
 * write itself changed are taken as they are (as kube-apiserver lets clients edit them), `[{}]` clears them.
 */
export function recordUpdate(old: KubeObject | undefined, next: KubeObject, manager: string, m: Management): KubeObject {
  const given = next.metadata.managedFields;
  if (isReset(given)) return withManagedEntries(next, []);
  const edited = !equal(given, old?.metadata.managedFields) ? managedEntriesOf(given) : [];
  const entries = edited.length > 0 ? edited : managedEntriesOf(old?.metadata.managedFields);
  const changes = compare(old ? m.known(old) : {}, m.known(next), m.keys);
  const gained = ownable(union(changes.added, changes.modified), m);
  const removed = ownable(changes.removed, m);
  const lost = union(gained, removed);
  const self = entries.find((e) => e.operation === 'Update' && e.manager === manager && e.apiVersion === m.apiVersion && !e.subresource);
  const others = entries
    .filter((e) => e !== self)
    .map((e) => ({ ...e, fields: minus(e.fields, lost) }))
    .filter((e) => e.fields.size > 0);
  const fields = union(minus(self?.fields ?? new Set(), removed), gained);
  const time = gained.size > 0 || !self ? m.now : self.time;
  const mine: ManagedEntry[] =
    fields.size === 0 ? [] : [{ manager, operation: 'Update', apiVersion: m.apiVersion, ...(time ? { time } : {}), fields }];
  return withManagedEntries(next, capped([...others, ...mine]));
}

function comparePaths(a: FieldPath, b: FieldPath): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return byCodeUnits(a[i]!, b[i]!);
  }
  return a.length - b.length;
}

function byManagerThenPath(a: Conflict, b: Conflict): number {
  return byCodeUnits(a.manager, b.manager) || comparePaths(a.path, b.path);
}

/** 409 as kube-apiserver words it, one FieldManagerConflict cause per field. */
export function applyConflict(conflicts: readonly Conflict[]): StatusError {
  const causes = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${c.manager}`,
    field: pathString(c.path),
  }));
  if (conflicts.length === 1) {
    return new StatusError(
      'Conflict',
      `Apply failed with 1 conflict: conflict with ${conflicts[0]!.manager}: ${pathString(conflicts[0]!.path)}`,
      { causes },
    );
  }
  const managers = [...new Set(conflicts.map((c) => c.manager))].sort();
  const lines = managers.flatMap((manager) => [
    `conflicts with ${manager}:`,
    ...conflicts.filter((c) => c.manager === manager).map((c) => `- ${pathString(c.path)}`),
  ]);
  return new StatusError('Conflict', `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`, { causes });
}

/** Fields of ObjectMeta that are left out when empty, as kube-apiserver's encoding of ObjectMeta leaves them out. */
const omittedWhenEmpty = ['labels', 'annotations', 'finalizers', 'ownerReferences'];

/** `object` with its metadata as ObjectMeta keeps it (kubectl's patches carry `annotations: {}`). */
export function compactMetadata(object: KubeObject): KubeObject {
  const empty = (value: unknown) => (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);
  const metadata = Object.fromEntries(
    Object.entries(object.metadata).filter(([field, value]) => !(omittedWhenEmpty.includes(field) && empty(value))),
  );
  return { ...object, metadata: metadata as KubeObject['metadata'] };
}

// ---- Kinds and requests ---------------------------------------------------------------------------------------

/** Set by the server, never owned (kube-apiserver's stripped fields). */
const systemFields = new Set(
  [
    ['apiVersion'],
    ['kind'],
    ['metadata'],
    ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion'].map(
      (f) => ['metadata', f],
    ),
  ].map((path) => encode(path.map((f) => `f:${f}`))),
);

export function managementOf(kind: ResourceKind, subresource: 'status' | undefined, now = new Date()): Management {
  const inStatus = (path: FieldPath) => path[0] === 'f:status';
  return {
    apiVersion: apiVersionOf(kind),
    keys: kind.listKeys ?? {},
    ignored: (path) =>
      systemFields.has(encode(path)) || (subresource === 'status' ? !inStatus(path) : kind.statusSubresource && inStatus(path)),
    known: (object) => (kind.strategy.unknownFields(object).length > 0 ? kind.strategy.prune(object) : object),
    now: rfc3339(now),
  };
}

/** The body of an apply, checked as kube-apiserver checks it before merging (400 BadRequest). */
export function appliedObject(body: unknown, kind: ResourceKind, scope: { namespace: string; name: string }, exists: boolean): KubeObject {
  if (!isObject(body)) throw badRequest('error decoding YAML: the apply configuration is not an object');
  if (body.apiVersion !== apiVersionOf(kind) || body.kind !== kind.kind) {
    const apiVersion = typeof body.apiVersion === 'string' ? body.apiVersion : '';
    throw badRequest(
      `invalid object type: ${apiVersion.includes('/') ? apiVersion : `/${apiVersion}`}, Kind=${typeof body.kind === 'string' ? body.kind : ''}`,
    );
  }
  const given = body.metadata ?? {};
  if (!isObject(given)) throw badRequest('metadata must be an object');
  if (given.managedFields !== undefined && given.managedFields !== null) throw badRequest('metadata.managedFields must be nil');
  const name = typeof given.name === 'string' ? given.name : '';
  if (name !== scope.name && (name !== '' || !exists))
    throw badRequest(`the name of the object (${name}) does not match the name on the URL (${scope.name})`);
  const { namespace, managedFields: _nil, ...metadata } = given;
  if (kind.namespaced && namespace && namespace !== scope.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  return { ...body, metadata: { ...metadata, ...(kind.namespaced && namespace ? { namespace } : {}) } } as KubeObject;
}

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const maxManagerBytes = 128;

function fieldManagerErrors(manager: string): FieldError[] {
  const errors: FieldError[] = [];
  if (Buffer.byteLength(manager) > maxManagerBytes) {
    errors.push({ type: 'FieldValueTooLong', field: 'fieldManager', message: `Too long: may not be more than ${maxManagerBytes} bytes` });
  }
  let position = 0;
  for (const char of manager) {
    if (!printable.test(char)) {
      const code = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      errors.push({
        type: 'FieldValueInvalid',
        field: 'fieldManager',
        message: `Invalid value: ${JSON.stringify(manager)}: invalid character ${code} (at position ${position})`,
      });
    }
    position += Buffer.byteLength(char);
  }
  return errors;
}

/** The manager of a write without fieldManager: its User-Agent up to the first `/` (`kubectl-edit`). */
export function managerFromUserAgent(userAgent: string): string {
  let manager = '';
  for (const char of userAgent.split('/')[0]!) {
    if (!printable.test(char)) continue;
    if (Buffer.byteLength(manager + char) > maxManagerBytes) break;
    manager += char;
  }
  return manager;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function refuseOptions(kind: 'PatchOptions' | 'CreateOptions' | 'UpdateOptions', errors: FieldError[]): void {
  if (errors.length > 0) throw invalid({ group: 'meta.k8s.io', resource: kind.toLowerCase(), kind }, errors);
}

/** fieldManager and force of a PATCH, refused with 422 as kube-apiserver validates PatchOptions. */
export function patchOptionsOf(ctx: Koa.Context, apply: boolean): { manager: string; force: boolean } {
  const manager = single(ctx.query.fieldManager) ?? '';
  const force = single(ctx.query.force);
  const errors: FieldError[] = [];
  if (!apply && force !== undefined)
    errors.push({ type: 'FieldValueForbidden', field: 'force', message: 'Forbidden: may not be specified for non-apply patch' });
  if (apply && manager === '')
    errors.push({ type: 'FieldValueRequired', field: 'fieldManager', message: 'Required value: is required for apply patch' });
  refuseOptions('PatchOptions', [...errors, ...fieldManagerErrors(manager)]);
  return {
    manager: manager || managerFromUserAgent(ctx.get('user-agent')),
    force: force !== undefined && force !== '0' && force.toLowerCase() !== 'false',
  };
}

/** The manager of a create or an update: fieldManager (checked as kube-apiserver does, 422), else the User-Agent's. */
export function fieldManagerOf(ctx: Koa.Context, options: 'CreateOptions' | 'UpdateOptions'): string {
  const manager = single(ctx.query.fieldManager) ?? '';
  refuseOptions(options, fieldManagerErrors(manager));
  return manager || managerFromUserAgent(ctx.get('user-agent'));
}

/**
 * The request with `object` as its body. create() reads the object it creates from the request: an apply that
 * creates hands it the object it built, and so goes through the same admission, hooks and dry run.
 */
export function withBody(ctx: Koa.Context, object: KubeObject): Koa.Context {
  return Object.create(ctx, { req: { value: Readable.from([Buffer.from(JSON.stringify(object))]) } }) as Koa.Context;
}
