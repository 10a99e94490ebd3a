// What every kind of the group shares: the group and version, the descriptor each kind file exports (names,
// scope, schema, printer columns), and the schema of a whole object.
import { objectFields } from './meta.ts';
import type { Cell, PrinterColumn, TypedObject } from './objects.ts';
import { object, type Schema } from './schema.ts';

export const group = 'postgres.databases.dinhloc.dev';
export const version = 'v1alpha1';
export const apiVersion = `${group}/${version}`;

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
  columns: readonly PrinterColumn<TypedObject<Spec, Status>>[];
}

type KindInput<Spec, Status> = Omit<KindDescriptor<Spec, Status>, 'group' | 'version' | 'listKind' | 'categories'>;

export function defineKind<Spec, Status>(input: KindInput<Spec, Status>): KindDescriptor<Spec, Status> {
  return Object.freeze({ group, version, listKind: `${input.kind}List`, categories: ['pgapi'], ...input });
}

/**
 * The schema of a whole object. `status` defaults to the kind's; validation of a create or update passes `{}`
 * because status is not the client's to write there.
 */
export function objectSchema(kind: KindDescriptor, status: Schema = kind.schema.status): Schema {
  return object(
    kind.description,
    {
      apiVersion: { ...objectFields.apiVersion, enum: [apiVersion] },
      kind: { ...objectFields.kind, enum: [kind.kind] },
      metadata: objectFields.metadata,
      spec: kind.schema.spec,
      status,
    },
    ['spec'],
  );
}

export const nameColumn: PrinterColumn<{ metadata: { name: string; creationTimestamp?: string } }> = {
  name: 'Name',
  type: 'string',
  format: 'name',
  priority: 0,
  description: 'The name of the object, unique within its namespace (or the cluster for cluster-scoped kinds).',
  cell: (o) => o.metadata.name,
};

export const ageColumn: PrinterColumn<{ metadata: { name: string; creationTimestamp?: string } }> = {
  name: 'Age',
  type: 'date',
  priority: 0,
  description: 'The time since the object was created.',
  cell: (o) => o.metadata.creationTimestamp ?? null,
};

/** The DatabaseCluster a namespaced object of ours lives on. */
export const clusterColumn: PrinterColumn<{ spec: { databaseClusterRef: { name: string } } }> = {
  name: 'Cluster',
  type: 'string',
  priority: 0,
  description: 'The DatabaseCluster.',
  cell: (o) => o.spec.databaseClusterRef.name,
};

/** The status of a condition ("True", "False", "Unknown"), for READY-like columns. */
export function conditionCell(conditions: readonly { type: string; status: string }[] | undefined, type: string): Cell {
  return conditions?.find((c) => c.type === type)?.status ?? null;
}

/** A string column; a cell with no string value shows as `<none>`. */
export function stringColumn<T>(name: string, description: string, cell: (object: T) => unknown): PrinterColumn<T> {
  return {
    name,
    type: 'string',
    description,
    priority: 0,
    cell: (o) => {
      const value = cell(o);
      return typeof value === 'string' ? value : null;
    },
  };
}
