// DatabaseCluster: a PostgreSQL server, reached through a DSN kept in a Secret. Its status is read live:
// whether the server answers and the connecting user gets in, its version, how many objects use it, and whether
// event triggers report drift at once in its databases.
import type { DatabaseSpec } from '../../openapi/database.ts';
import type { DatabaseClusterSpec, DatabaseClusterStatus } from '../../openapi/databasecluster.ts';
import { databaseCluster, validateClusterSpec, connectionBudgetOf } from '../../openapi/databasecluster.ts';
import { driftDetection, listenedDatabases } from '../../storage/catalog/drifttrigger.ts';
import type { Reclaim, ResourceKind, WriteContext } from './resource.ts';
import { StatusError } from '../../openapi/status.ts';
import { servedKind } from './kind.ts';
import {
  condition,
  environmentFault,
  isProblem,
  objectsOnCluster,
  persistStatus,
  resolveCluster,
  resolveClusterObject,
  resources,
  type Dependencies,
  type ResolvedCluster,
} from './shared.ts';
import type { KubeObject } from '../../openapi/objects.ts';

/** server_version_num 170006 → "17.6" (13+ numbering). */
function serverVersion(versionNumber: number): string {
  return `${Math.floor(versionNumber / 10000)}.${versionNumber % 10000}`;
}

/** The finalizer every DatabaseCluster carries: it goes only once no Database or DatabaseRole uses the cluster. */
export const dependentsFinalizer = 'postgres.databases.dinhloc.dev/dependents';

/** The Databases and DatabaseRoles that use the cluster. */
async function dependentsOf(deps: Dependencies, cluster: string): Promise<{ databases: KubeObject[]; roles: KubeObject[] }> {
  const [databases, roles] = await Promise.all(
    [resources.databases, resources.roles].map((resource) => objectsOnCluster(deps, resource, cluster)),
  );
  return { databases: databases!, roles: roles! };
}

/** "Database team-a/orders, DatabaseRole team-a/reader and 3 more": what keeps a cluster from going. */
function describeDependents({ databases, roles }: { databases: KubeObject[]; roles: KubeObject[] }): string {
  const names = [...databases, ...roles].map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);
  return names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
}

/**
 * Deleting a cluster that Databases or DatabaseRoles still use leaves it Terminating (as kube-apiserver keeps a
 * namespace until its content is gone): deleting them, with their reclaimPolicy, is the owners' decision.
 */
function protectDependents(deps: Dependencies): Reclaim {
  return {
    finalizer: dependentsFinalizer,
    needed: () => true,
    run: async (cluster) => {
      const dependents = await dependentsOf(deps, cluster.metadata.name);
      if (dependents.databases.length + dependents.roles.length === 0) return;
      throw new StatusError(
        'Conflict',
        `DatabaseCluster "${cluster.metadata.name}" is still used by ${describeDependents(dependents)}; it is deleted once they are`,
      );
    },
  };
}

async function liveStatus(deps: Dependencies, cluster: KubeObject): Promise<DatabaseClusterStatus> {
  const generation = Number(cluster.metadata.generation ?? 1);
  const previous = (cluster.status as DatabaseClusterStatus | undefined)?.conditions;
  const dependents = await dependentsOf(deps, cluster.metadata.name);
  const { databases, roles } = dependents;
  const counts = { databases: databases.length, roles: roles.length, observedGeneration: generation };
  const terminating =
    cluster.metadata.deletionTimestamp && databases.length + roles.length > 0
      ? [
          condition(
            'Terminating',
            true,
            'DependentsRemain',
            `deleted once no object uses it: ${describeDependents(dependents)}`,
            generation,
            previous,
          ),
        ]
      : [];
  const resolved = await resolveCluster(deps, cluster.metadata.name);
  if (isProblem(resolved))
    return { conditions: [condition('Ready', false, resolved.reason, resolved.message, generation, previous), ...terminating], ...counts };
  // A database being dropped is no longer watched for drift.
  const managed = databases.filter((d) => !d.metadata.deletionTimestamp).map((d) => (d.spec as DatabaseSpec).name);
  try {
    const listened = listenedDatabases(managed, connectionBudgetOf(cluster.spec as DatabaseClusterSpec));
    const polling = managed.filter((database) => !listened.includes(database)).sort();
    const [snapshot, triggers] = await Promise.all([
      resolved.catalog.snapshot({ roles: [], databases: [] }),
      resolved.catalog.driftTriggers(listened),
    ]);
    const who = snapshot.superuser ? 'a superuser' : 'a non-superuser';
    const detection = driftDetection(snapshot.superuser, triggers, managed.length - listened.length);
    return {
      conditions: [
        condition('Ready', true, 'Connected', `connected as ${who} to PostgreSQL ${serverVersion(snapshot.version)}`, generation, previous),
        condition('EventTriggers', detection.mode === 'EventTrigger', detection.reason, detection.message, generation, previous),
        ...terminating,
      ],
      driftDetection: detection.mode,
      serverVersion: serverVersion(snapshot.version),
      host: resolved.host,
      ...counts,
      connectionBudget: connectionBudgetOf(cluster.spec as DatabaseClusterSpec),
      ...(polling.length > 0 ? { pollingDatabases: polling } : {}),
    };
  } catch (error) {
    const fault = environmentFault(error);
    return {
      conditions: [condition('Ready', false, fault.reason, fault.message, generation, previous), ...terminating],
      host: resolved.host,
      ...counts,
    };
  }
}

/**
 * A cluster that cannot reach its server is accepted (its Secret or server may come later), but whoever wrote it
 * is told why at once, and an Event says so: the placeholder DSN of the usage guide, a wrong password.
 */
async function warnUnreachable(deps: Dependencies, cluster: KubeObject, context: WriteContext): Promise<void> {
  const resolved = await resolveClusterObject(deps, cluster as ResolvedCluster['object']);
  const fault = isProblem(resolved)
    ? resolved
    : await resolved.catalog.snapshot({ roles: [], databases: [] }, { fresh: true }).then(
        () => undefined,
        (error: unknown) => environmentFault(error),
      );
  if (!fault) return;
  context.warn(`DatabaseCluster "${cluster.metadata.name}" cannot reach its server yet (${fault.reason}): ${fault.message}`);
  if (!context.dryRun) deps.events.record(cluster, 'Warning', fault.reason, fault.message);
}

export function databaseClusters(deps: Dependencies): ResourceKind {
  return servedKind(databaseCluster, {
    validateSpec: (o) => validateClusterSpec(o.spec as DatabaseClusterSpec),
    reclaim: protectDependents(deps),
    // A changed spec (driftPolicy, the DSN's Secret) is acted on at once, not at the next resync.
    writeWarnings: async (o, context) => {
      await warnUnreachable(deps, o, context);
      if (!context.dryRun) deps.nudge?.(o.metadata.name);
    },
    decorate: (objects) => Promise.all(objects.map(async (o) => persistStatus(deps, resources.clusters, o, await liveStatus(deps, o)))),
  });
}
