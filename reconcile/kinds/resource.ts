// A kind as the HTTP layer and the loops use it: names, columns, and its rules as small hooks with no HTTP in them.
import type { Claim, ResourceStore } from '../../storage/objects/types.ts';
import { convertedStore, type StoredForm } from '../../storage/objects/converted.ts';
import type { KubeObject, PrinterColumn } from '../../openapi/objects.ts';
import type { ListKeys } from '../../openapi/schema.ts';
import type { FieldError } from '../../openapi/fields.ts';

export type { KubeObject };

/** How a write runs: from a request (dry run or not, its Warnings answered as headers) or from the reconciler. */
export interface WriteContext {
  dryRun: boolean;
  /** A fault the write met, retried (a Warning header for a request; the reconciler backs off). */
  warn(text: string): void;
  /** What the writer should know that is no fault: the write did what was asked (a Warning header for a request). */
  advise(text: string): void;
}

/** The kind-specific rules, as small hooks (STYLE: the sample-apiserver strategy). */
export interface Strategy {
  /** Faults found before unknown fields are pruned: fields that are refused, not merely unknown. */
  forbidden?(object: KubeObject): FieldError[];
  /** Paths of fields the schema does not know, for fieldValidation. */
  unknownFields(object: KubeObject): string[];
  /** A copy without the unknown fields (fieldValidation=Ignore). */
  prune(object: KubeObject): KubeObject;
  /** A copy with the schema's defaults filled in. */
  withDefaults(object: KubeObject): KubeObject;
  /** Every fault of the object; with `old`, of the change too (immutable fields). */
  validate(object: KubeObject, old: KubeObject | undefined): FieldError[];
  /**
   * What a write checks beyond the object itself (tenancy, what the server holds), before anything is stored or
   * run: throws a StatusError to refuse. Returns the names the object claims and how to write it.
   */
  admit?(object: KubeObject, old: KubeObject | undefined, request: WriteContext): Promise<Admission>;
  /**
   * What deleting an object must do outside the store first (reclaimPolicy Delete drops it in PostgreSQL).
   * Objects that need it carry `finalizer`: a delete that cannot finish leaves the object marked with a
   * deletionTimestamp, and the reconciler finishes it.
   */
  reclaim?: Reclaim;
  /** What a person deleting the object should know (other objects that depend on it), as Warnings. */
  deleteWarnings?(object: KubeObject): Promise<string[]>;
  /**
   * After a create or update, what the writer should know that refuses nothing (a DatabaseCluster that cannot
   * reach its server yet): Warnings through `context`, and an Event unless it is a dry run.
   */
  writeWarnings?(object: KubeObject, context: WriteContext): Promise<void>;
  /** Runs once the object is gone from the store (objects made for it, such as a Database's Service). */
  afterDelete?(object: KubeObject): Promise<void>;
  /**
   * The objects as they are read: live status merged in. `warn` tells a reader what it sees is not live (a
   * cluster that did not answer a read across clusters in time).
   */
  decorate?(objects: KubeObject[], warn?: (text: string) => void): Promise<KubeObject[]>;
  /** Written only through create/update, never returned (Secret stringData). */
  writeOnly?(object: KubeObject): KubeObject;
}

export interface Admission {
  /** Role and database names on a PostgreSQL server, taken with the object (store.create / store.claim). */
  claims: readonly Claim[];
  /**
   * Makes PostgreSQL and the Kubernetes side match the object (SQL, Services, Secrets), once it and its claims
   * are stored; returns the object to store (with what the write recorded in status). Absent when nothing can
   * be written now (the server cannot be read: a Warning said so, and the reconciler tries again).
   */
  write?(stored: KubeObject): Promise<Written>;
}

/** What a write returns: the object to store, and whether its status was read from the catalog after the SQL. */
export interface Written {
  object: KubeObject;
  /** Then the answer and the reconciler show the status as it is, with no other read. */
  statusIsLive: boolean;
}

/** The object as written, its status to be read by whoever shows it. */
export function notLive(object: KubeObject): Written {
  return { object, statusIsLive: false };
}

export interface Reclaim {
  finalizer: string;
  /** Whether this object needs the finalizer (its reclaimPolicy is Delete). */
  needed(object: KubeObject): boolean;
  /** Drops what the object manages; throws when it cannot now. */
  run(object: KubeObject): Promise<void>;
}

/** metadata.finalizers with the kind's reclaim finalizer present exactly when the object needs it. */
export function withReclaimFinalizer(strategy: Strategy, object: KubeObject): KubeObject {
  const reclaim = strategy.reclaim;
  if (!reclaim || object.metadata.deletionTimestamp) return object;
  const others = ((object.metadata.finalizers as string[] | undefined) ?? []).filter((f) => f !== reclaim.finalizer);
  const finalizers = reclaim.needed(object) ? [...others, reclaim.finalizer] : others;
  const { finalizers: _old, ...metadata } = object.metadata;
  return { ...object, metadata: finalizers.length > 0 ? { ...metadata, finalizers } : (metadata as KubeObject['metadata']) };
}

export interface ResourceKind {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  /** Whether status is a subresource: writes of the main resource keep the stored status. */
  statusSubresource: boolean;
  columns: readonly PrinterColumn[];
  /** The lists that merge by key under server-side apply, from the schema's marks (none for the core kinds here). */
  listKeys?: ListKeys;
  strategy: Strategy;
  /** Fields fieldSelector supports besides metadata.name and metadata.namespace (Events: involvedObject.*). */
  fields?: { names: readonly string[]; of(object: KubeObject): Record<string, string> };
  /** Core kinds take kubectl's strategic merge patch (read as a merge patch); ours answer it with 415. */
  strategicMergePatch?: boolean;
  /** Where the objects are another resource of the store, converted (events.k8s.io/v1 Events are core v1 ones). */
  storedAs?: StoredForm;
}

/** The fields a fieldSelector can match on an object of this kind. */
export function selectableFields(kind: ResourceKind, object: KubeObject): Record<string, string> {
  return { 'metadata.name': object.metadata.name, 'metadata.namespace': object.metadata.namespace ?? '', ...kind.fields?.of(object) };
}

export function selectableFieldNames(kind: ResourceKind): string[] {
  return ['metadata.name', 'metadata.namespace', ...(kind.fields?.names ?? [])];
}

export function apiVersionOf(kind: Pick<ResourceKind, 'group' | 'version'>): string {
  return kind.group ? `${kind.group}/${kind.version}` : kind.version;
}

/** The store as the kind's requests use it: its objects in the kind's own form. */
export function servedStore(kind: ResourceKind, store: ResourceStore): ResourceStore {
  return kind.storedAs ? convertedStore(store, storeResource(kind), kind.storedAs) : store;
}

/** The key the store files a kind under. */
export function storeResource(kind: Pick<ResourceKind, 'group' | 'plural'>): string {
  return `${kind.group}/${kind.plural}`;
}
