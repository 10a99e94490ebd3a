// databaseServiceName: a Service in the Database's namespace that resolves to the PostgreSQL server, so
// applications connect to `<service>.<namespace>.svc`. ExternalName when the DSN names a host; a selector-less
// Service when it is an IP. A Service this server did not create is never taken over.
import type { DatabaseSpec } from '../../openapi/database.ts';
import type { KubeObject } from '../resource.ts';
import type { Services } from './services.ts';

const managedBy = 'app.kubernetes.io/managed-by';
const manager = 'postgres-apiserver';
const databaseLabel = 'postgres.databases.dinhloc.dev/database';

type DatabaseObject = KubeObject & { spec: DatabaseSpec };

export type ServiceOutcome = { ok: true; name: string } | { ok: false; reason: 'ServiceConflict'; message: string };

function isOurs(service: KubeObject, database: DatabaseObject): boolean {
  const labels = (service.metadata.labels ?? {}) as Record<string, string>;
  return labels[managedBy] === manager && labels[databaseLabel] === database.metadata.name;
}

function desiredService(database: DatabaseObject, name: string, host: string): KubeObject {
  const [hostname, port] = [host.slice(0, host.lastIndexOf(':')), Number(host.slice(host.lastIndexOf(':') + 1))];
  const isIp = /^[\d.]+$|:/.test(hostname);
  const ports = [{ name: 'postgres', protocol: 'TCP', port, targetPort: port }];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: database.metadata.namespace,
      labels: { [managedBy]: manager, [databaseLabel]: database.metadata.name },
      ownerReferences: [{ apiVersion: database.apiVersion, kind: database.kind, name: database.metadata.name, uid: database.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: isIp ? { type: 'ClusterIP', ports } : { type: 'ExternalName', externalName: hostname, ports },
  };
}

/** The fields this server sets; the API server fills others (clusterIP, sessionAffinity, …) that are kept. */
function ownedFields(spec: unknown): string {
  const { type, externalName, ports } = (spec ?? {}) as { type?: string; externalName?: string; ports?: Record<string, unknown>[] };
  return JSON.stringify({ type, externalName, ports: (ports ?? []).map(({ name, protocol, port, targetPort }) => ({ name, protocol, port, targetPort })) });
}

/** The desired spec over the live one; a change of type starts afresh, as the API server allocates anew. */
function updatedSpec(live: Record<string, unknown>, desired: Record<string, unknown>): Record<string, unknown> {
  return live.type === desired.type ? { ...live, ...desired } : desired;
}

/** Creates or updates the Database's Service; a Service of the same name not made for it is left alone. */
export async function ensureService(services: Services, database: DatabaseObject, host: string): Promise<ServiceOutcome | undefined> {
  const name = database.spec.databaseServiceName;
  if (!name) return undefined;
  const namespace = database.metadata.namespace ?? '';
  const existing = await services.core.services.get(namespace, name);
  if (existing && !isOurs(existing, database)) {
    return { ok: false, reason: 'ServiceConflict', message: `Service ${namespace}/${name} exists and was not created for this Database: it is left alone` };
  }
  const desired = desiredService(database, name, host);
  if (!existing) await services.core.services.create(desired);
  else if (ownedFields(existing.spec) !== ownedFields(desired.spec)) {
    await services.core.services.replace({ ...existing, spec: updatedSpec(existing.spec as Record<string, unknown>, desired.spec as Record<string, unknown>) });
  }
  return { ok: true, name };
}

/** Removes the Service made for the Database (when the Database goes, or stops asking for one). */
export async function removeService(services: Services, database: DatabaseObject, name: string | undefined): Promise<void> {
  if (!name) return;
  const namespace = database.metadata.namespace ?? '';
  const existing = await services.core.services.get(namespace, name);
  if (existing && isOurs(existing, database)) await services.core.services.delete(namespace, name);
}

/** status.serviceName: the Service made for the Database, when it exists (among its namespace's Services). */
export function serviceNameOf(database: DatabaseObject, namespaceServices: readonly KubeObject[]): string | undefined {
  const name = database.spec.databaseServiceName;
  const service = namespaceServices.find((s) => s.metadata.name === name);
  return service && isOurs(service, database) ? name : undefined;
}
