// databaseServiceName: a Service in the Database's namespace that resolves to the PostgreSQL server, so
// applications connect to `<service>.<namespace>.svc`. ExternalName when the DSN names a host; when it is an IP,
// a selector-less Service and, since nothing else gives such a Service endpoints, an EndpointSlice of the same
// name holding that address. A Service or EndpointSlice this server did not create is never taken over.
import { isIP } from 'node:net';
import { database as databaseKind, type DatabaseSpec } from '../../openapi/database.ts';
import { failureOf } from '../../storage/kubernetes/delegation.ts';
import { type Dependencies } from './shared.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { CoreObjects, ObjectAccess } from '../../storage/kubernetes/types.ts';
import { hasLabels } from '../../lib/labels.ts';

const managedBy = 'app.kubernetes.io/managed-by';
const manager = 'postgres-apiserver';
const databaseLabel = 'postgres.databases.dinhloc.dev/database';
// The labels by which kube-proxy finds a slice's Service, and by which controllers leave others' slices alone.
const serviceNameLabel = 'kubernetes.io/service-name';
const sliceManagedBy = 'endpointslice.kubernetes.io/managed-by';
const sliceManager = 'postgres.databases.dinhloc.dev';

type DatabaseObject = KubeObject & { spec: DatabaseSpec };

/** Why the Database's Service does not resolve to the server; the Database is told with a Warning. */
export interface ServiceProblem {
  reason: 'ServiceConflict' | 'EndpointSliceConflict' | 'EndpointSliceFailed';
  message: string;
}

/** Where the DSN points: the host (an IPv6 address without brackets), the port, and 4 or 6 for an IP, else 0. */
export interface Target {
  host: string;
  port: number;
  family: number;
}

/** "host:port" as resolveCluster gives it. */
export function targetOf(hostPort: string): Target {
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(hostPort.slice(colon + 1)), family: isIP(host) };
}

function isOurs(service: KubeObject, database: DatabaseObject): boolean {
  return hasLabels(service.metadata.labels as Record<string, string> | undefined, {
    [managedBy]: manager,
    [databaseLabel]: database.metadata.name,
  });
}

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/**
 * The Service's owner: the Database as a GET of it answers (apiVersion, kind, name, uid). kube-controller-manager's
 * garbage collector deletes a dependent whose owner it does not find so, with another uid say.
 */
function ownerReferenceOf(database: DatabaseObject): OwnerReference {
  return {
    apiVersion: `${databaseKind.group}/${databaseKind.version}`,
    kind: databaseKind.kind,
    name: database.metadata.name,
    uid: String(database.metadata.uid),
    controller: true,
    blockOwnerDeletion: true,
  };
}

function ownerReferencesOf(object: KubeObject): OwnerReference[] {
  return (object.metadata.ownerReferences ?? []) as OwnerReference[];
}

/** Whether the Service names this Database, by its uid, as its owner (one made for a Database of the same name before may not). */
function ownedBy(service: KubeObject, database: DatabaseObject): boolean {
  const wanted = ownerReferenceOf(database);
  return ownerReferencesOf(service).some(
    (r) => r.apiVersion === wanted.apiVersion && r.kind === wanted.kind && r.name === wanted.name && r.uid === wanted.uid,
  );
}

/** The Service's owner references with the Database's in place of any other Database's; other owners are kept. */
function withOwner(service: KubeObject, database: DatabaseObject): OwnerReference[] {
  const wanted = ownerReferenceOf(database);
  return [wanted, ...ownerReferencesOf(service).filter((r) => !(r.apiVersion === wanted.apiVersion && r.kind === wanted.kind))];
}

function desiredService(database: DatabaseObject, name: string, { host, port, family }: Target): KubeObject {
  const ports = [{ name: 'postgres', protocol: 'TCP', port, targetPort: port }];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: database.metadata.namespace,
      labels: { [managedBy]: manager, [databaseLabel]: database.metadata.name },
      ownerReferences: [ownerReferenceOf(database)],
    },
    spec: family ? { type: 'ClusterIP', ports } : { type: 'ExternalName', externalName: host, ports },
  };
}

/** The fields this server sets; the API server fills others (clusterIP, sessionAffinity, …) that are kept. */
function ownedFields(spec: unknown): string {
  const { type, externalName, ports } = (spec ?? {}) as { type?: string; externalName?: string; ports?: Record<string, unknown>[] };
  return JSON.stringify({
    type,
    externalName,
    ports: (ports ?? []).map(({ name, protocol, port, targetPort }) => ({ name, protocol, port, targetPort })),
  });
}

/** The desired spec over the live one; a change of type starts afresh, as the API server allocates anew. */
function updatedSpec(live: Record<string, unknown>, desired: Record<string, unknown>): Record<string, unknown> {
  return live.type === desired.type ? { ...live, ...desired } : desired;
}

/** The one endpoint of an IP's Service: the server's address and port, owned by the Service. */
export function desiredEndpointSlice(service: KubeObject, { host, port, family }: Target): KubeObject {
  const { name, namespace, uid } = service.metadata;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace,
      labels: { [serviceNameLabel]: name, [sliceManagedBy]: sliceManager },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid, controller: true, blockOwnerDeletion: true }],
    },
    addressType: family === 6 ? 'IPv6' : 'IPv4',
    endpoints: [{ addresses: [host], conditions: { ready: true } }],
    ports: [{ name: 'postgres', protocol: 'TCP', port }],
  };
}

function isOurSlice(slice: KubeObject, serviceName: string): boolean {
  return hasLabels(slice.metadata.labels as Record<string, string> | undefined, {
    [sliceManagedBy]: sliceManager,
    [serviceNameLabel]: serviceName,
  });
}

/** The fields of a slice this server sets; the API server fills others that are kept. */
function sliceFields(slice: KubeObject): string {
  const { addressType, endpoints, ports } = slice as {
    addressType?: string;
    endpoints?: { addresses?: string[] }[];
    ports?: Record<string, unknown>[];
  };
  const owners = ((slice.metadata.ownerReferences ?? []) as { uid?: string }[]).map((o) => o.uid);
  return JSON.stringify({
    addressType,
    addresses: (endpoints ?? []).map((e) => e.addresses),
    ports: (ports ?? []).map(({ name, protocol, port }) => ({ name, protocol, port })),
    owners,
  });
}

/** Creates the slice, or brings ours up to date; a new address family needs a new slice (addressType is immutable). */
async function writeEndpointSlice(slices: ObjectAccess, existing: KubeObject | undefined, desired: KubeObject): Promise<void> {
  const { namespace = '', name } = desired.metadata;
  if (existing && existing.addressType === desired.addressType) {
    if (sliceFields(existing) === sliceFields(desired)) return;
    const labels = { ...(existing.metadata.labels as object), ...(desired.metadata.labels as object) };
    await slices.replace({
      ...existing,
      ...desired,
      metadata: { ...existing.metadata, ...desired.metadata, labels, resourceVersion: existing.metadata.resourceVersion },
    });
    return;
  }
  if (existing) await slices.delete(namespace, name);
  await slices.create(desired);
}

/** The Service's EndpointSlice; kube-apiserver refusing it (a loopback address) is a problem to tell, not a failure. */
async function ensureEndpointSlice(slices: ObjectAccess, service: KubeObject, target: Target): Promise<ServiceProblem | undefined> {
  const { namespace = '', name } = service.metadata;
  try {
    const existing = await slices.get(namespace, name);
    if (existing && !isOurSlice(existing, name)) {
      return {
        reason: 'EndpointSliceConflict',
        message: `EndpointSlice ${namespace}/${name} exists and was not made for this Database's Service: it is left alone, and the Service may not resolve to the server`,
      };
    }
    await writeEndpointSlice(slices, existing, desiredEndpointSlice(service, target));
    return undefined;
  } catch (error) {
    return {
      reason: 'EndpointSliceFailed',
      message: `Service ${namespace}/${name} has no endpoints: its EndpointSlice could not be written: ${failureOf(error)}`,
    };
  }
}

async function removeEndpointSlice(slices: ObjectAccess, namespace: string, name: string): Promise<void> {
  const existing = await slices.get(namespace, name);
  if (existing && isOurSlice(existing, name)) await slices.delete(namespace, name);
}

/**
 * An IP's Service gets its EndpointSlice; a host name's (ExternalName) needs none, so one left from an IP goes.
 * Local mode keeps no EndpointSlices (resources/core.ts says why).
 */
async function syncEndpointSlice(core: CoreObjects, service: KubeObject, target: Target): Promise<ServiceProblem | undefined> {
  if (!core.endpointSlices) return undefined;
  if (target.family) return ensureEndpointSlice(core.endpointSlices, service, target);
  await removeEndpointSlice(core.endpointSlices, service.metadata.namespace ?? '', service.metadata.name);
  return undefined;
}

/** Creates or updates the Database's Service (and EndpointSlice); a Service of the same name not made for it is left alone. */
export async function ensureService(deps: Dependencies, database: DatabaseObject, host: string): Promise<ServiceProblem | undefined> {
  const name = database.spec.databaseServiceName;
  if (!name) return undefined;
  const namespace = database.metadata.namespace ?? '';
  const existing = await deps.core.services.get(namespace, name);
  if (existing && !isOurs(existing, database)) {
    return {
      reason: 'ServiceConflict',
      message: `Service ${namespace}/${name} exists and was not created for this Database: it is left alone`,
    };
  }
  const target = targetOf(host);
  const desired = desiredService(database, name, target);
  const service = !existing
    ? await deps.core.services.create(desired)
    : ownedFields(existing.spec) === ownedFields(desired.spec) && ownedBy(existing, database)
      ? existing
      : await deps.core.services.replace({
          ...existing,
          metadata: { ...existing.metadata, ownerReferences: withOwner(existing, database) },
          spec: updatedSpec(existing.spec as Record<string, unknown>, desired.spec as Record<string, unknown>),
        });
  return syncEndpointSlice(deps.core, service, target);
}

/** Removes the Service made for the Database, and its EndpointSlice (when the Database goes, or stops asking for one). */
export async function removeService(deps: Dependencies, database: DatabaseObject, name: string | undefined): Promise<void> {
  if (!name) return;
  const namespace = database.metadata.namespace ?? '';
  const existing = await deps.core.services.get(namespace, name);
  if (!existing || !isOurs(existing, database)) return;
  // Garbage collection would remove the slice with the Service; removing it first leaves nothing behind meanwhile.
  if (deps.core.endpointSlices) await removeEndpointSlice(deps.core.endpointSlices, namespace, name);
  await deps.core.services.delete(namespace, name);
}

/** What the Database's status says of its Service: its name when it is ours, and what a write would fix. */
export interface ServiceStatus {
  name?: string;
  /**
   * Missing, pointing elsewhere than the DSN, or owned by another uid (made for a Database of the same name
   * before): the reconciler writes it again. A foreign one is not fixable.
   */
  drift?: { reason: 'ServiceMissing' | 'ServiceOutOfDate'; message: string };
}

/** The Database's Service among its namespace's Services, against what the DSN's `host` wants. */
export function serviceStatusOf(database: DatabaseObject, namespaceServices: readonly KubeObject[], host: string): ServiceStatus {
  const name = database.spec.databaseServiceName;
  if (!name) return {};
  const where = `Service ${database.metadata.namespace}/${name}`;
  const service = namespaceServices.find((s) => s.metadata.name === name);
  if (!service) return { drift: { reason: 'ServiceMissing', message: `${where} does not exist` } };
  if (!isOurs(service, database)) return {};
  const desired = desiredService(database, name, targetOf(host));
  if (ownedFields(service.spec) !== ownedFields(desired.spec))
    return { name, drift: { reason: 'ServiceOutOfDate', message: `${where} does not point at ${host}` } };
  if (!ownedBy(service, database))
    return {
      name,
      drift: {
        reason: 'ServiceOutOfDate',
        message: `${where} names another owner than this Database (uid ${database.metadata.uid}): the garbage collector would delete it`,
      },
    };
  return { name };
}
