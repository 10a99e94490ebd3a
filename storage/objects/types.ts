// The shapes the object store keeps and hands out. Objects are plain JSON; the store reads only metadata.

export interface ObjectMeta {
  name: string;
  /** Absent or '' for cluster-scoped objects. */
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  generation?: number;
  [field: string]: unknown;
}

export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One entry of the change log. For DELETED, `object` is the last state with the deletion's resourceVersion. */
export interface Change<T extends StoredObject = StoredObject> {
  type: ChangeType;
  resource: string;
  namespace: string;
  name: string;
  resourceVersion: string;
  object: T;
}

export interface ObjectList<T extends StoredObject = StoredObject> {
  /** Sorted by namespace, then name. */
  items: T[];
  /** The resourceVersion the items are consistent with; every page of one list carries the same one. */
  resourceVersion: string;
  /** Present when more items follow: pass it back as `continue`. */
  continue?: string;
}

/**
 * A name on a PostgreSQL server that one object owns: a role or a database. `server` is the server's system
 * identifier, so DatabaseClusters that reach one server share one set of claims.
 */
export interface Claim {
  server: string;
  kind: 'role' | 'database';
  name: string;
}
