// The shapes the object store keeps and hands out. Objects are plain JSON; the store reads only metadata.

import type { KubeObject } from '../../openapi/objects.ts';
import type { StoreLocation } from '../catalog/eligibility.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One entry of the change log. For DELETED, `object` is the last state with the deletion's resourceVersion. */
export interface Change<T extends KubeObject = KubeObject> {
  type: ChangeType;
  resource: string;
  namespace: string;
  name: string;
  resourceVersion: string;
  object: T;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
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

/** The object store, as the handlers use it (ObjectStore implements it; the kinds and the HTTP layer depend on this shape only). Errors carry a `reason`. */
export interface ResourceStore {
  /** Where the store lives (undefined where the server does not say): no object may claim its database. */
  readonly location?: StoreLocation | undefined;
  get(resource: string, namespace: string, name: string): Promise<KubeObject>;
  list(
    resource: string,
    options: { namespace?: string; limit?: number; continue?: string },
  ): Promise<{ items: KubeObject[]; resourceVersion: string; continue?: string }>;
  /** The current objects whose field at `path` is one of `values`: a few objects without listing them all. */
  find(resource: string, path: readonly string[], values: readonly string[]): Promise<KubeObject[]>;
  /** Stores a new object and takes its claims in one transaction: a claim another object holds is a Conflict. */
  create(resource: string, object: KubeObject, claims?: readonly Claim[]): Promise<KubeObject>;
  /** Takes claims for a stored object (stored before its server could be read); Conflict when another holds one. */
  claim(resource: string, object: KubeObject, claims: readonly Claim[]): Promise<void>;
  /** The Conflict `claim` would meet, taking nothing (dry runs). */
  checkClaims(resource: string, object: KubeObject, claims: readonly Claim[]): Promise<void>;
  update(resource: string, object: KubeObject, precondition?: { expectedResourceVersion?: string }): Promise<KubeObject>;
  delete(resource: string, namespace: string, name: string, precondition?: { expectedResourceVersion?: string }): Promise<KubeObject>;
  watch(
    listener: (change: { type: 'ADDED' | 'MODIFIED' | 'DELETED'; resourceVersion: string; object: KubeObject }) => void,
    options: { resourceVersion?: string; resource?: string; onError?: (error: Error) => void },
  ): Promise<() => void>;
  currentResourceVersion(): Promise<string>;
}
