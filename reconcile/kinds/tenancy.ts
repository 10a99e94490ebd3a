// Tenancy (DESIGN.md): which cluster an object may use, and who owns a database or role name on a cluster.
// Each refusal is a fault of the object: nothing is changed.
import { grantableRolesFor } from '../../openapi/databasecluster.ts';
import type { Reach, ServerFacts } from '../../storage/catalog/eligibility.ts';
import { decideOwnership, recordKey, type OwnedKind, type OwnerRecord } from '../../storage/catalog/ownership.ts';
import type { WriteContext } from './resource.ts';
import { conflict, forbidden, invalid, StatusError } from '../../openapi/status.ts';
import {
  environmentFault,
  isProblem,
  namespaceAllowed,
  objectsOnCluster,
  resolveCluster,
  resources,
  subject,
  type ClusterProblem,
  type ResolvedCluster,
  type Dependencies,
} from './shared.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { FieldError } from '../../openapi/fields.ts';
import { fromStoreError } from '../../storage/objects/errors.ts';
import { startedEarly } from '../../lib/promises.ts';

export interface Admitted {
  name: string;
  /** The cluster, or why it cannot be reached now (an environment fault: the write is accepted). */
  resolved: ResolvedCluster | ClusterProblem;
}

/**
 * The object's namespace must exist (404), as kube-apiserver's NamespaceLifecycle admission wants: it does not
 * run for an aggregated API, so we check.
 */
async function requireNamespace(deps: Dependencies, object: KubeObject): Promise<void> {
  const name = object.metadata.namespace ?? '';
  if (!(await deps.core.namespace(name))) throw new StatusError('NotFound', `namespaces "${name}" not found`, { name, kind: 'namespaces' });
}

/** The role or database name an object claims on its server (claimCheck). */
export interface NameClaim {
  resource: string;
  keyPath: readonly ['spec', string];
  what: string;
}

/**
 * The namespace must exist; the referenced DatabaseCluster must exist (422), admit the namespace (403) and, for
 * a new object, not be being deleted (403); then no other object may hold the name it claims (409). The reads
 * run at once; their verdicts come in that order.
 */
export async function admitToCluster(deps: Dependencies, object: KubeObject, creating: boolean, claim: NameClaim): Promise<Admitted> {
  const name = (object.spec as { databaseClusterRef: { name: string } }).databaseClusterRef.name;
  const resolving = startedEarly(resolveCluster(deps, name));
  const claimed = startedEarly(claimCheck(deps, claim.resource, object, name, claim.keyPath, claim.what));
  await requireNamespace(deps, object);
  const resolved = await resolving;
  if (isProblem(resolved) && resolved.reason === 'ClusterNotFound') {
    throw invalid(subject(object), [
      {
        type: 'FieldValueNotFound',
        field: 'spec.databaseClusterRef.name',
        message: `Not found: "${name}": no DatabaseCluster of that name`,
      },
    ]);
  }
  const cluster = isProblem(resolved)
    ? ((await deps.store.get(resources.clusters, '', name)) as ResolvedCluster['object'])
    : resolved.object;
  if (creating && cluster.metadata.deletionTimestamp)
    throw forbidden(subject(object), `DatabaseCluster "${name}" is being deleted: no new object may use it`);
  if (!(await namespaceAllowed(deps, cluster, object.metadata.namespace ?? ''))) {
    throw forbidden(
      subject(object),
      `namespace "${object.metadata.namespace}" may not use DatabaseCluster "${name}" (spec.allowedNamespaces)`,
    );
  }
  await claimed;
  return { name, resolved };
}

/** The cluster an object of ours refers to. */
export function clusterRefOf(object: KubeObject): string | undefined {
  return (object.spec as { databaseClusterRef?: { name?: string } } | undefined)?.databaseClusterRef?.name;
}

/**
 * A database or role name (the spec field at `keyPath`) belongs to the first object that claims it on a
 * cluster (409 for the others). Only the objects with that name are read.
 */
async function claimCheck(
  deps: Dependencies,
  resource: string,
  object: KubeObject,
  cluster: string,
  keyPath: readonly ['spec', string],
  what: string,
): Promise<void> {
  const key = String((object.spec as Record<string, unknown>)[keyPath[1]]);
  const owner = (await deps.store.find(resource, keyPath, [key])).find(
    (o) => clusterRefOf(o) === cluster && !(o.metadata.name === object.metadata.name && o.metadata.namespace === object.metadata.namespace),
  );
  if (owner) {
    throw conflict(
      subject(object),
      `${what} "${key}" on DatabaseCluster "${cluster}" belongs to ${owner.metadata.namespace}/${owner.metadata.name}`,
    );
  }
}

/**
 * What the object's namespace owns on the cluster and what the cluster gives it (eligibility.ts's Reach), as far
 * as the request needs it: of `roles` (the roles it names), those a DatabaseRole of the namespace manages; of the
 * cluster's Database objects (`databasesRead` when the caller has read them already), the namespace's. Only the
 * named roles are read, so that a write costs the same however many roles the cluster has.
 */
export async function reachOf(
  deps: Dependencies,
  object: KubeObject,
  cluster: ResolvedCluster['object'],
  roles: readonly string[],
  databasesRead?: KubeObject[],
): Promise<Reach> {
  const namespace = object.metadata.namespace ?? '';
  const clusterName = cluster.metadata.name;
  const [roleObjects, databases] = await Promise.all([
    roles.length > 0 ? deps.store.find(resources.roles, ['spec', 'roleName'], roles) : [],
    databasesRead ?? objectsOnCluster(deps, resources.databases, clusterName),
  ]);
  const names = (list: KubeObject[], field: string) =>
    new Set(
      list
        .filter((o) => o.metadata.namespace === namespace && clusterRefOf(o) === clusterName)
        .map((o) => String((o.spec as Record<string, unknown>)[field])),
    );
  return {
    namespace,
    ownRoles: names(roleObjects, 'roleName'),
    ownDatabases: names(databases, 'name'),
    grantableRoles: grantableRolesFor(cluster.spec, namespace),
    allowedExtensions: new Set(cluster.spec.allowedExtensions ?? []),
    store: deps.store.location,
  };
}

/** 403 naming every refused field: what no DatabaseCluster rule can allow. */
export function refuse(object: KubeObject, errors: FieldError[]): void {
  if (errors.length > 0) throw forbidden(subject(object), errors.map((e) => `${e.field}: ${e.message}`).join(', '));
}

/**
 * Runs the eligibility rules before anything is stored or run: a refusal is a 403. The server's facts, or
 * undefined when the server could not be read (an environment fault: the write is accepted with a Warning, and
 * runs no SQL until the reconciler finds the server readable).
 */
export async function eligible(
  object: KubeObject,
  request: WriteContext,
  check: () => Promise<{ facts: ServerFacts; errors: FieldError[] }>,
): Promise<ServerFacts | undefined> {
  let checked: { facts: ServerFacts; errors: FieldError[] };
  try {
    checked = await check();
  } catch (error) {
    request.warn(`${environmentFault(error).message}; it is written once the cluster can be read`);
    return undefined;
  }
  refuse(object, checked.errors);
  return checked.facts;
}

/**
 * Whether the object may own the role or database it names (ownership.ts): 409 for a name another namespace
 * owns or that exists unmanaged (no adoption rule), 422 for Delete on an adopted one. The record to write, if any.
 */
export async function ownership(
  deps: Dependencies,
  object: KubeObject,
  cluster: ResolvedCluster['object'],
  facts: ServerFacts,
  kind: OwnedKind,
  name: string,
  managedAlready: boolean,
): Promise<OwnerRecord | undefined> {
  const decision = decideOwnership({
    kind,
    name,
    claimant: { namespace: object.metadata.namespace ?? '', object: object.metadata.name, uid: String(object.metadata.uid) },
    exists: kind === 'role' ? facts.roles.has(name) : facts.databases.has(name),
    managedAlready,
    reclaimDelete: (object.spec as { reclaimPolicy?: string }).reclaimPolicy === 'Delete',
    record: facts.owners.get(recordKey(kind, name)),
    adoption: cluster.spec.adoption ?? [],
  });
  const what = subject(object);
  if (decision.refusal === 'Conflict') throw conflict(what, decision.message);
  if (decision.refusal === 'AlreadyExists') {
    // Another DatabaseCluster's object (through another DSN database: other records) may hold it: say which.
    const resource = kind === 'role' ? resources.roles : resources.databases;
    await deps.store.checkClaims(resource, object, [{ server: facts.systemIdentifier, kind, name }]).catch((error: unknown) => {
      throw fromStoreError(error);
    });
    throw new StatusError('AlreadyExists', `${what.resource}.${what.group} "${what.name}" is refused: ${decision.message}`, {
      name: what.name,
      group: what.group,
      kind: what.resource,
    });
  }
  if (decision.refusal === 'Invalid') throw invalid(what, [decision.error]);
  return decision.record;
}
