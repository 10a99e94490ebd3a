// DatabaseCluster: a PostgreSQL server, reached through a DSN kept in a Secret. Its status is read live:
// whether the server answers and the connecting user gets in, its version, how many objects use it, and whether
// event triggers report drift at once in its databases.
import type { DatabaseSpec } from '../../openapi/database.ts';
import type { DatabaseClusterSpec, DatabaseClusterStatus } from '../../openapi/databasecluster.ts';
import { databaseCluster, validateClusterSpec } from '../../openapi/databasecluster.ts';
import { driftDetection, listenedDatabases } from '../../storage/catalog/drifttrigger.ts';
import type { KubeObject, ResourceKind } from '../resource.ts';
import { servedKind } from './kind.ts';
import { condition, environmentFault, isProblem, objectsOnCluster, persistStatus, resolveCluster, resources, type Services } from './services.ts';

/** server_version_num 170006 → "17.6" (13+ numbering). */
function serverVersion(versionNumber: number): string {
  return `${Math.floor(versionNumber / 10000)}.${versionNumber % 10000}`;
}

async function liveStatus(services: Services, cluster: KubeObject): Promise<DatabaseClusterStatus> {
  const generation = Number(cluster.metadata.generation ?? 1);
  const previous = (cluster.status as DatabaseClusterStatus | undefined)?.conditions;
  const [databases, roles] = await Promise.all([
    objectsOnCluster(services, resources.databases, cluster.metadata.name),
    objectsOnCluster(services, resources.roles, cluster.metadata.name),
  ]);
  const counts = { databases: databases.length, roles: roles.length, observedGeneration: generation };
  const resolved = await resolveCluster(services, cluster.metadata.name);
  if (isProblem(resolved)) return { conditions: [condition('Ready', false, resolved.reason, resolved.message, generation, previous)], ...counts };
  // A database being dropped is no longer watched for drift.
  const managed = databases.filter((d) => !d.metadata.deletionTimestamp).map((d) => (d.spec as DatabaseSpec).name);
  try {
    const listened = listenedDatabases(managed);
    const [snapshot, triggers] = await Promise.all([resolved.catalog.snapshot({ roles: [], databases: [] }), resolved.catalog.driftTriggers(listened)]);
    const who = snapshot.superuser ? 'a superuser' : 'a non-superuser';
    const detection = driftDetection(snapshot.superuser, triggers, managed.length - listened.length);
    return {
      conditions: [
        condition('Ready', true, 'Connected', `connected as ${who} to PostgreSQL ${serverVersion(snapshot.version)}`, generation, previous),
        condition('EventTriggers', detection.mode === 'EventTrigger', detection.reason, detection.message, generation, previous),
      ],
      driftDetection: detection.mode,
      serverVersion: serverVersion(snapshot.version),
      host: resolved.host,
      ...counts,
    };
  } catch (error) {
    const fault = environmentFault(error);
    return { conditions: [condition('Ready', false, fault.reason, fault.message, generation, previous)], host: resolved.host, ...counts };
  }
}

export function databaseClusters(services: Services): ResourceKind {
  return servedKind(databaseCluster, {
    validateSpec: (o) => validateClusterSpec(o.spec as DatabaseClusterSpec),
    decorate: (objects) => Promise.all(objects.map(async (o) => persistStatus(services, resources.clusters, o, await liveStatus(services, o)))),
  });
}
