// What every kind of the group shares: the group and version, the descriptor each kind file exports (names,
// scope, schema, printer columns), and the schema of a whole object.
import { objectFields } from './meta.ts';
import { object, type Schema } from './schema.ts';

export const group = 'postgres.databases.dinhloc.dev';
export const version = 'v1alpha1';
export const apiVersion = `${group}/${version}`;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  [field: string]: unknown;
}

export interface KubeObject<Spec, Status> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

export type Cell = string | number | boolean | null;

/** A column of `kubectl get` (a meta.k8s.io/v1 Table column definition plus how to fill its cell). */
export interface PrinterColumn<Object> {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description: string;
  /** 0: always shown; 1: only with `-o wide`. */
  priority: 0 | 1;
  /**
   * The cell; null when there is no value yet (kubectl shows `<none>`). A `date` cell is an RFC 3339 timestamp that
   * the Table shows as an age (`5m`, `3d`), as kube-apiserver does for a CRD's date columns.
   */
  cell(object: Object): Cell;
}

export interface KindDescriptor<Spec = unknown, Status = unknown> {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** The resource: databaseclusters, databases, databaseroles. */
  plural: string;
  singular: string;
  shortNames: readonly string[];
  categories: readonly string[];
  namespaced: boolean;
  /** What `kubectl explain <kind>` prints first. */
  description: string;
  schema: { spec: Schema; status: Schema };
  /** In `kubectl get` order: NAME first, AGE after the columns always shown, `-o wide` ones last. */
  columns: readonly PrinterColumn<KubeObject<Spec, Status>>[];
}

type KindInput<Spec, Status> = Omit<KindDescriptor<Spec, Status>, 'group' | 'version' | 'listKind' | 'categories'>;

export function defineKind<Spec, Status>(input: KindInput<Spec, Status>): KindDescriptor<Spec, Status> {
  return Object.freeze({ group, version, listKind: `${input.kind}List`, categories: ['postgres'], ...input });
}

/**
 * The schema of a whole object. `status` defaults to the kind's; validation of a create or update passes `{}`
 * because status is not the client's to write there.
 */
export function objectSchema(kind: KindDescriptor, status: Schema = kind.schema.status): Schema {
  return object(kind.description, {
    apiVersion: { ...objectFields.apiVersion, enum: [apiVersion] },
    kind: { ...objectFields.kind, enum: [kind.kind] },
    metadata: objectFields.metadata,
    spec: kind.schema.spec,
    status,
  }, ['spec']);
}

export const nameColumn: PrinterColumn<{ metadata: ObjectMeta }> = {
  name: 'Name', type: 'string', format: 'name', priority: 0,
  description: 'The name of the object, unique within its namespace (or the cluster for cluster-scoped kinds).',
  cell: (o) => o.metadata.name ?? null,
};

export const ageColumn: PrinterColumn<{ metadata: ObjectMeta }> = {
  name: 'Age', type: 'date', priority: 0,
  description: 'The time since the object was created.',
  cell: (o) => o.metadata.creationTimestamp ?? null,
};

/** The status of a condition ("True", "False", "Unknown"), for READY-like columns. */
export function conditionCell(conditions: readonly { type: string; status: string }[] | undefined, type: string): Cell {
  return conditions?.find((c) => c.type === type)?.status ?? null;
}
