// DatabaseRole.spec.connectionSecret: a Secret this server writes for the application, with everything it
// needs to connect as the role. Written only when the password is known; never over a Secret it did not make.
import type { DatabaseRoleSpec } from '../../openapi/databaserole.ts';
import { type ResolvedCluster, type Dependencies } from './shared.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { SecretData } from '../../storage/kubernetes/types.ts';
import { hasLabels } from '../../lib/labels.ts';

const labels = { 'app.kubernetes.io/managed-by': 'postgres-apiserver' };

/** pgpass escapes ':' and '\' in each field. */
function pgpassField(value: string): string {
  return value.replace(/[\\:]/g, (c) => `\\${c}`);
}

export function connectionDetails(
  cluster: Pick<ResolvedCluster, 'host' | 'sslmode'>,
  database: string,
  username: string,
  password: string,
): Record<string, string> {
  const at = cluster.host.lastIndexOf(':');
  const [host, port] = [cluster.host.slice(0, at), cluster.host.slice(at + 1)];
  const ssl = cluster.sslmode ? `sslmode=${encodeURIComponent(cluster.sslmode)}` : '';
  const e = encodeURIComponent;
  return {
    host,
    port,
    dbname: database,
    username,
    password,
    uri: `postgresql://${e(username)}:${e(password)}@${cluster.host}/${e(database)}${ssl ? `?${ssl}` : ''}`,
    'jdbc-uri': `jdbc:postgresql://${cluster.host}/${e(database)}?user=${e(username)}&password=${e(password)}${ssl ? `&${ssl}` : ''}`,
    pgpass: `${[host, port, database, username, password].map(pgpassField).join(':')}\n`,
  };
}

/** Writes the role's connection Secret; a warning when a Secret of that name belongs to someone else. */
export async function writeConnectionSecret(
  deps: Dependencies,
  role: KubeObject & { spec: DatabaseRoleSpec },
  cluster: ResolvedCluster,
  password: string,
): Promise<string | undefined> {
  const target = role.spec.connectionSecret;
  if (!target) return undefined;
  const namespace = role.metadata.namespace ?? '';
  const details = connectionDetails(cluster, target.database, role.spec.roleName, password);
  const outcome = await deps.secrets.write(namespace, target.name, details, labels);
  return outcome === 'notOurs'
    ? `Secret ${namespace}/${target.name} exists and was not written by this server: the connection details are not written there`
    : undefined;
}

/**
 * What the role's connection Secret lacks, when a write would fix it: it is missing, or holds other details
 * than the role's (a host or password since changed, a key edited). A Secret this server did not write is left
 * alone, so it is no drift. Names only: never a value.
 */
export function connectionSecretDrift(
  role: KubeObject & { spec: DatabaseRoleSpec },
  cluster: Pick<ResolvedCluster, 'host' | 'sslmode'>,
  password: string,
  secret: SecretData | undefined,
): string | undefined {
  const target = role.spec.connectionSecret;
  if (!target) return undefined;
  const where = `Secret ${role.metadata.namespace}/${target.name}`;
  if (!secret) return `${where} (connectionSecret) does not exist`;
  if (!hasLabels(secret.labels, labels)) return undefined;
  const wanted = connectionDetails(cluster, target.database, role.spec.roleName, password);
  const same =
    Object.keys(wanted).length === Object.keys(secret.data).length && Object.entries(wanted).every(([k, v]) => secret.data[k] === v);
  return same ? undefined : `${where} (connectionSecret) does not hold the role's current connection details`;
}
