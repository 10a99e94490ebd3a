// The shared vocabulary of every layer: a Kubernetes object as the server stores, serves and reasons about it,
// and a column of `kubectl get`.

export interface ObjectMeta {
  /** Every object the server holds has one; a request may send generateName instead. */
  name: string;
  generateName?: string;
  /** Absent or '' for cluster-scoped objects. */
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

/** Any object: the fields every kind has, the rest as JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** An object of one of our kinds, its spec and status typed. */
export interface TypedObject<Spec, Status> extends KubeObject {
  spec: Spec;
  status?: Status;
}

export type Cell = string | number | boolean | null;

/** A column of `kubectl get` (a meta.k8s.io/v1 Table column definition plus how to fill its cell). */
export interface PrinterColumn<Object = KubeObject> {
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
