// What a read answers (K8S-WIRE §3, §12): the object itself, a Table for kubectl get, or only the metadata
// (PartialObjectMetadata, PartialObjectMetadataList) for the metadata clients of kube-controller-manager's garbage
// collector and namespace controller. Chosen from Accept as kube-apiserver chooses it (apiserver
// handlers/negotiation/negotiate.go, handlers/response.go transformObject): the clauses by quality, the first
// one this server can serve wins, and one that asks for anything else is passed over. JSON is the only
// encoding served, so a protobuf clause is passed over too (clients then read the JSON clause that follows).
import type { KubeObject } from '../openapi/objects.ts';
import { StatusError } from '../openapi/status.ts';

export type MetaGroupVersion = 'meta.k8s.io/v1' | 'meta.k8s.io/v1beta1';

export type Representation =
  { as: 'Object' } | { as: 'Table' | 'PartialObjectMetadata' | 'PartialObjectMetadataList'; groupVersion: MetaGroupVersion };

type Converted = Exclude<Representation, { as: 'Object' }>['as'];

interface Clause {
  type: string;
  subtype: string;
  q: number;
  params: Map<string, string>;
}

function clausesOf(accept: string): Clause[] {
  const clauses: Clause[] = [];
  for (const part of accept.split(',')) {
    const [range = '', ...rest] = part.split(';');
    const [type = '', subtype = type === '*' ? '*' : '', extra] = range.trim().split('/');
    if (!type || !subtype || extra !== undefined) continue;
    const params = new Map<string, string>();
    let q = 1;
    for (const param of rest) {
      const [key, value, more] = param.split('=');
      if (key === undefined || value === undefined || more !== undefined) continue;
      if (key.trim() === 'q') q = Number.parseFloat(value) || 0;
      else params.set(key.trim(), value.trim());
    }
    clauses.push({ type: type.trim(), subtype: subtype.trim(), q, params });
  }
  // Higher quality first, then the specific before the wildcards; otherwise in the client's order.
  const wildcards = (c: Clause) => Number(c.type === '*') + Number(c.subtype === '*');
  return clauses
    .map((c, i) => ({ c, i }))
    .sort((a, b) => b.c.q - a.c.q || wildcards(a.c) - wildcards(b.c) || a.i - b.i)
    .map(({ c }) => c);
}

const conversions: readonly string[] = ['Table', 'PartialObjectMetadata', 'PartialObjectMetadataList'] satisfies Converted[];

/** What a clause asks for, when this server can answer it; undefined passes it over. */
function servable(clause: Clause): Representation | undefined {
  const json = (clause.type === 'application' || clause.type === '*') && (clause.subtype === 'json' || clause.subtype === '*');
  if (!json) return undefined;
  const as = clause.params.get('as');
  const group = clause.params.get('g');
  const version = clause.params.get('v');
  if (as === undefined && group === undefined && version === undefined) return { as: 'Object' };
  if (group !== 'meta.k8s.io' || (version !== 'v1' && version !== 'v1beta1') || as === undefined || !conversions.includes(as)) {
    return undefined;
  }
  return { as: as as Converted, groupVersion: `meta.k8s.io/${version}` };
}

/** The representation Accept asks for; the object itself when no clause can be served, as kube-apiserver does. */
export function representationOf(accept: string | undefined): Representation {
  for (const clause of clausesOf(accept ?? '')) {
    const representation = servable(clause);
    if (representation) return representation;
  }
  return { as: 'Object' };
}

/** An object's metadata only, as the metadata client reads it (meta.AsPartialObjectMetadata: all of ObjectMeta). */
export function asPartialObjectMetadata(object: KubeObject, groupVersion: MetaGroupVersion = 'meta.k8s.io/v1'): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion: groupVersion, metadata: object.metadata };
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

/** A list's items as PartialObjectMetadata, with the list's resourceVersion and continue token. */
export function asPartialObjectMetadataList(metadata: ListMeta, items: readonly KubeObject[], groupVersion: MetaGroupVersion) {
  return {
    kind: 'PartialObjectMetadataList',
    apiVersion: groupVersion,
    metadata,
    items: items.map((item) => asPartialObjectMetadata(item, groupVersion)),
  };
}

/** kube-apiserver's 406 for PartialObjectMetadataList asked of one object, or PartialObjectMetadata of a list. */
export function notAcceptable(asked: 'PartialObjectMetadata' | 'PartialObjectMetadataList', kind: string): StatusError {
  return new StatusError(
    'NotAcceptable',
    asked === 'PartialObjectMetadata'
      ? `you requested PartialObjectMetadata, but the requested object is a list (${kind}List)`
      : `you requested PartialObjectMetadataList, but the requested object is not a list (${kind})`,
  );
}
