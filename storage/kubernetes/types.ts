// The Kubernetes objects the kinds read and write beside their own (DESIGN.md, Where state lives): the real
// cluster's through client-node (cluster.ts), or local mode's own store (local.ts).
import type { KubeObject } from '../../openapi/objects.ts';

/** Secrets as the server reads them: decoded values and the resourceVersion they were read at. */
export interface SecretData {
  data: Record<string, string>;
  resourceVersion: string;
  labels: Record<string, string>;
}

export interface SecretReader {
  read(namespace: string, name: string): Promise<SecretData | undefined>;
  /** The Secrets of a namespace with these names, by name: one read for many objects. */
  readNamed(namespace: string, names: readonly string[]): Promise<Map<string, SecretData>>;
  /** Creates a Secret holding `data` (password.generate). */
  create(namespace: string, name: string, data: Record<string, string>): Promise<{ resourceVersion: string }>;
  /**
   * Creates or updates a Secret this server manages (`labels` mark it as ours); one with the same name that
   * lacks them is left alone: the answer is then 'notOurs'.
   */
  write(namespace: string, name: string, data: Record<string, string>, labels: Record<string, string>): Promise<'written' | 'notOurs'>;
}

/** One core kind's objects: the cluster's in a cluster, the store's in local mode. */
export interface ObjectAccess {
  get(namespace: string, name: string): Promise<KubeObject | undefined>;
  list(namespace: string): Promise<KubeObject[]>;
  /** The objects of a namespace with these names (those that exist). */
  named(namespace: string, names: readonly string[]): Promise<KubeObject[]>;
  create(object: KubeObject): Promise<KubeObject>;
  /** Replaces the object; its `metadata.resourceVersion` makes a concurrent change a Conflict. */
  replace(object: KubeObject): Promise<KubeObject>;
  /** Deletes the object; one already gone is not an error. */
  delete(namespace: string, name: string): Promise<void>;
}

/** What a Secret watch tells: names only, never a value. */
export interface SecretChanges {
  /** A Secret was created, changed or deleted. */
  changed(namespace: string, name: string): void;
  /** The watch came back after a gap it could not replay: any Secret may have changed meanwhile. */
  missed(): void;
  /** A failure the watch recovers from by itself, with backoff; `failures` in a row. */
  failed(error: unknown, failures: number): void;
  /** Whether a watch is open now: only then is every change told as it happens (a watch that says nothing never is). */
  following?(open: boolean): void;
}

/** The Kubernetes objects the kinds read and write beside their own (DESIGN.md, Where state lives). */
export interface CoreObjects {
  /** A Namespace; `fresh` reads what the cluster holds now, never what memory kept (a label set a moment ago). */
  namespace(name: string, fresh?: boolean): Promise<KubeObject | undefined>;
  services: ObjectAccess;
  secrets: ObjectAccess;
  /** discovery.k8s.io/v1 EndpointSlices, for the Services of IP hosts; local mode has none. */
  endpointSlices?: ObjectAccess;
  /** Follows the Secrets of every namespace, from now on, until stopped; a watch that ends or fails comes back. */
  watchSecrets(changes: SecretChanges): { stop(): void };
}
