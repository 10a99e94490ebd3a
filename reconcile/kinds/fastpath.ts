// The fast path of drift detection (storage/catalog/drifttrigger.ts, reconcile/listener.ts) as a Database's
// write and delete take part in it. A database the write creates gets our event triggers in that same write,
// when the connecting user is a superuser: a change made in its first seconds is recorded by them instead of
// waiting for the listener's first connection (which asks for a pass as it starts). The cluster's loop is then
// nudged, so that its listener starts within a second rather than at the next resync. Without a superuser
// (a managed service's admin) nothing is tried: the refusal would be an ERROR in the server's log at every
// create. A database no longer managed (its Database deleted with reclaimPolicy Retain) loses all of it.
import { failure, type Logger } from '../../lib/log.ts';
import type { ServerCatalog } from '../../storage/catalog/server.ts';
import type { DatabaseSpec } from '../../openapi/database.ts';
import { CatalogError } from '../../storage/catalog/errors.ts';
import { isProblem, resolveCluster, type Dependencies, type ResolvedCluster } from './shared.ts';

/** After a write created `database`: the event triggers installed where the user may, and the loop nudged. Never throws. */
export async function afterDatabaseCreated(
  deps: Dependencies,
  cluster: ResolvedCluster,
  database: string,
  superuser: boolean,
): Promise<void> {
  const fields = { cluster: cluster.object.metadata.name, database };
  if (superuser) {
    try {
      if (await cluster.catalog.installDriftTriggers(database)) deps.log.info(fields, 'installed the drift event triggers');
    } catch (error) {
      // A superuser refused (a managed service's restricted superuser, say) is the case without triggers: the
      // resync finds drift. Anything else is tried again when the listener starts.
      const refused = error instanceof CatalogError && error.reason === 'PermissionDenied';
      deps.log[refused ? 'debug' : 'warn']({ ...fields, ...failure(error) }, 'installing the drift event triggers with the write failed');
    }
  }
  deps.nudge?.(cluster.object.metadata.name);
}

/**
 * A Database gone from the store: unless its database was dropped with it (reclaimPolicy Delete), what the fast
 * path made in it is removed (the schema postgres_apiserver, its function, the two event triggers). Never throws:
 * a server out of reach keeps them, and they only notify a channel nobody listens to any more.
 */
export async function releaseDatabase(deps: Dependencies, spec: DatabaseSpec): Promise<void> {
  if (spec.reclaimPolicy === 'Delete') return;
  const log = deps.log.child({ cluster: spec.databaseClusterRef.name });
  try {
    const resolved = await resolveCluster(deps, spec.databaseClusterRef.name);
    if (!isProblem(resolved)) await removeFastPath(resolved.catalog, spec.name, log);
  } catch (error) {
    log.warn({ database: spec.name, ...failure(error) }, 'removing the drift event triggers failed; they are left in the database');
  }
}

/** Removes our triggers, function and schema from `database`, logging what it did. Never throws. */
export async function removeFastPath(catalog: ServerCatalog, database: string, log: Logger): Promise<void> {
  try {
    if (await catalog.removeDriftTriggers(database)) log.info({ database }, 'removed the drift event triggers');
  } catch (error) {
    log.warn({ database, ...failure(error) }, 'removing the drift event triggers failed; they are left in the database');
  }
}
