// Password rotation and DSN changes within seconds, whatever the resync interval: while this replica runs loops, it
// follows the Kubernetes side's Secrets, and a change to one that a DatabaseRole (spec.password) or a
// DatabaseCluster (spec.connection) names nudges that cluster's loop. The pass that follows applies the new
// password (recording status.passwordSecretVersion) or reports the Secret or key missing. Most Secrets of a
// cluster are none of ours (service-account tokens, Helm releases): an index of the Secrets our objects name,
// listed once and kept current from the store's change feed, answers each change without I/O, and the loop's
// settle turns a burst of changes into one pass. The same change feed nudges a cluster's loop when one of its
// Databases is created or deleted: the pass that follows starts or stops that database's drift listener, instead
// of an interval later. Databases and DatabaseRoles created or deleted are also told as they come (`cameOrWent`):
// the cluster's digest of its roles and databases (reconcile/fingerprint.ts) covers a new one at once, without a
// pass.
import { objectKey } from '../lib/locks.ts';
import { failure, type Logger } from '../lib/log.ts';
import { resources } from './kinds/shared.ts';
import type { DatabaseClusterSpec } from '../openapi/databasecluster.ts';
import type { DatabaseRoleSpec } from '../openapi/databaserole.ts';
import type { DatabaseSpec } from '../openapi/database.ts';
import type { KubeObject } from '../openapi/objects.ts';
import type { CoreObjects } from '../storage/kubernetes/types.ts';
import type { ResourceStore } from '../storage/objects/types.ts';

/** A Database or DatabaseRole created or deleted: its cluster, and the name it has in PostgreSQL. */
export interface ManagedChange {
  type: 'ADDED' | 'DELETED';
  kind: 'database' | 'role';
  cluster: string;
  name: string;
}

/** A Secret one of our objects names, and the cluster whose loop must hear of its changes. */
interface SecretUse {
  secret: string;
  cluster: string;
}

function secretKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function useOf(resource: string, object: KubeObject): SecretUse | undefined {
  if (resource === resources.clusters) {
    const { connection } = object.spec as DatabaseClusterSpec;
    return { secret: secretKey(connection.namespace, connection.name), cluster: object.metadata.name };
  }
  const { password, databaseClusterRef } = object.spec as DatabaseRoleSpec;
  return password && { secret: secretKey(object.metadata.namespace ?? '', password.name), cluster: databaseClusterRef.name };
}

/** The Secrets the DatabaseClusters and DatabaseRoles name: listed once, then kept current from the store's change feed. */
class SecretUses {
  /** Object key → the Secret it names. */
  private readonly byObject = new Map<string, SecretUse>();
  private readonly unsubscribes: (() => void)[] = [];

  constructor(
    private readonly store: ResourceStore,
    /** The change feed lost changes; the index is no longer complete. */
    private readonly expired: (error: Error) => void,
    /** A Database or DatabaseRole was created or deleted. */
    private readonly cameOrWent: (change: ManagedChange) => void,
  ) {}

  async load(): Promise<void> {
    for (const resource of [resources.clusters, resources.roles]) await this.follow(resource);
    await this.followDatabases();
  }

  private async follow(resource: string): Promise<void> {
    const { items, resourceVersion } = await this.store.list(resource, {});
    for (const object of items) this.record(resource, object);
    const unsubscribe = await this.store.watch(
      ({ type, object }) => {
        if (type === 'DELETED') this.byObject.delete(objectKey(resource, object.metadata.namespace, object.metadata.name));
        else this.record(resource, object);
        if (resource === resources.roles && type !== 'MODIFIED') {
          const { roleName, databaseClusterRef } = object.spec as DatabaseRoleSpec;
          this.cameOrWent({ type, kind: 'role', cluster: databaseClusterRef.name, name: roleName });
        }
      },
      { resource, resourceVersion, onError: this.expired },
    );
    this.unsubscribes.push(unsubscribe);
  }

  private async followDatabases(): Promise<void> {
    const resource = resources.databases;
    const unsubscribe = await this.store.watch(
      ({ type, object }) => {
        const { name, databaseClusterRef } = object.spec as DatabaseSpec;
        if (type !== 'MODIFIED') this.cameOrWent({ type, kind: 'database', cluster: databaseClusterRef.name, name });
      },
      { resource, resourceVersion: await this.store.currentResourceVersion(), onError: this.expired },
    );
    this.unsubscribes.push(unsubscribe);
  }

  private record(resource: string, object: KubeObject): void {
    const key = objectKey(resource, object.metadata.namespace, object.metadata.name);
    const use = useOf(resource, object);
    if (use) this.byObject.set(key, use);
    else this.byObject.delete(key);
  }

  clustersUsing(namespace: string, name: string): Set<string> {
    const secret = secretKey(namespace, name);
    return new Set([...this.byObject.values()].filter((use) => use.secret === secret).map((use) => use.cluster));
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
  }
}

/** Secret changes as nudges of the clusters that use them. */
export class SecretTriggers {
  private following: { uses: SecretUses; watch: { stop(): void } } | undefined;

  constructor(
    private readonly store: ResourceStore,
    private readonly core: CoreObjects,
    /** Nudges the loops of these clusters; of every cluster when none are given. */
    private readonly nudge: (clusters?: Iterable<string>) => void,
    private readonly log: Logger,
    /** Databases and DatabaseRoles created or deleted; a Database's nudges its cluster's loop besides. */
    private readonly cameOrWent: (change: ManagedChange) => void = () => undefined,
  ) {}

  /**
   * Follows the Secrets unless it already does. Every loop is nudged once the watch first opens, for what changed
   * while nobody followed: a change before that is seen by the pass, one after by the watch (a watch renewed
   * later resumes where it was, and one that could not says missed). A failure is logged; the next call tries
   * again.
   */
  async start(): Promise<void> {
    if (this.following) return;
    const uses = new SecretUses(
      this.store,
      (error) => this.expired(error),
      (change) => {
        if (change.kind === 'database') this.nudge([change.cluster]);
        this.cameOrWent(change);
      },
    );
    try {
      await uses.load();
    } catch (error) {
      uses.stop();
      this.log.warn(
        failure(error),
        'reading which Secrets our objects name failed; Secret changes are found at each resync until it succeeds',
      );
      return;
    }
    let opened = false;
    const watch = this.core.watchSecrets({
      changed: (namespace, name) => this.nudge(uses.clustersUsing(namespace, name)),
      missed: () => this.nudge(),
      following: (open) => {
        if (!open || opened) return;
        opened = true;
        this.nudge();
      },
      failed: (error, failures) => {
        const fields = { ...failure(error), failures };
        if (failures === 1) this.log.warn(fields, 'watching Secrets failed; retrying with backoff');
        else this.log.debug(fields, 'watching Secrets failed again');
      },
    });
    this.following = { uses, watch };
  }

  /** The index is incomplete: following stops, and starts again at the next call of start(). */
  private expired(error: Error): void {
    this.log.warn(failure(error), 'the index of the Secrets our objects name lost changes; it is read again');
    this.stop();
  }

  stop(): void {
    this.following?.watch.stop();
    this.following?.uses.stop();
    this.following = undefined;
  }
}
