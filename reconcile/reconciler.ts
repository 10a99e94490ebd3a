// The reconciler (DESIGN.md, reconcile/): one loop per DatabaseCluster, every spec.resyncInterval (the server's
// --resync-interval when it has none). A pass reads the cluster's objects with their live status (a status that
// changed is persisted, so watchers see MODIFIED when drift appears) and, where the cluster says driftPolicy:
// Correct, runs each differing object's write again so the catalog matches the spec. Failures back off per
// object; one failing object never stops the others, and one slow or unreachable cluster never delays another.
// Where the connecting user may create event triggers, they notify the loop of most changes within a second
// (reconcile/listener.ts): a pass then follows shortly. What they cannot see (roles' attributes, passwords and
// memberships, privileges on databases) a digest read twice a second finds (reconcile/fingerprint.ts). Our own
// corrections notify and change the digest too; the pass they cause finds nothing to do and runs no
// statement, so it ends there. A replica runs the loops of the clusters it owns (ClusterOwnership: in a cluster
// the shards it holds, reconcile/shards.ts; in local mode all of them while it leads): one that loses a cluster
// stops its loop at once and writes nothing more for it, one that gains a cluster starts its loop at once. A
// change to a Secret our objects name nudges the loop of its cluster too (reconcile/secrets.ts): a rotated
// password is applied within seconds.
import { objectKey, type ObjectLocks } from '../lib/locks.ts';
import { storeResource, type ResourceKind } from './kinds/resource.ts';
import { isProblem, objectsOnCluster, readOrUndefined, resolveCluster, resources, type Dependencies } from './kinds/shared.ts';
import type { DatabaseSpec } from '../openapi/database.ts';
import type { DatabaseRoleSpec } from '../openapi/databaserole.ts';
import { resyncIntervalMs, type DatabaseClusterSpec } from '../openapi/databasecluster.ts';
import type { LeaderElection } from './leader.ts';
import { DriftListeners } from './listener.ts';
import { FingerprintWatch } from './fingerprint.ts';
import { ClusterLoop } from './loop.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { SecretTriggers } from './secrets.ts';
import { clusterRefOf } from './kinds/tenancy.ts';
import type { KubeObject } from '../openapi/objects.ts';
import { deleteStored, writeStored } from './kinds/correct.ts';
import { backoffDelay } from '../lib/backoff.ts';
import { failure } from '../lib/log.ts';
import { rfc3339 } from '../lib/time.ts';

const firstBackoffMs = 1_000;
const maxBackoffMs = 5 * 60_000;

interface Condition {
  type: string;
  status: string;
}

/** Whether the object's live status says the catalog differs from its spec. */
function differs(object: KubeObject): boolean {
  const status = object.status as { drift?: unknown[]; conditions?: Condition[] } | undefined;
  return (status?.drift?.length ?? 0) > 0 || status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'False') === true;
}

/** namespace/name, or the name of a cluster-scoped object, as log lines name it. */
function objectName(object: KubeObject): string {
  return object.metadata.namespace ? `${object.metadata.namespace}/${object.metadata.name}` : object.metadata.name;
}

/** The DatabaseCluster an object belongs to: the one it refers to, or itself. */
function clusterOf(resource: string, object: KubeObject): string | undefined {
  return resource === resources.clusters ? object.metadata.name : clusterRefOf(object);
}

/** Which DatabaseClusters this replica reconciles now. */
export interface ClusterOwnership {
  owns(cluster: string): boolean;
  /** Whether it may own any cluster now: one that owns none lists none. */
  ownsAny(): boolean;
  /**
   * `listener()` whenever what it owns changes; a loss is heard before owns() says so. What it returns (the loops
   * of a lost cluster stopping) may be awaited before another replica is let in.
   */
  onChange(listener: () => Promise<unknown> | void): void;
}

/** One replica reconciles every cluster: the leader (local mode's lock). */
export function ownedByLeader(leader: Pick<LeaderElection, 'isLeader' | 'onChange'>): ClusterOwnership {
  return {
    owns: () => leader.isLeader(),
    ownsAny: () => leader.isLeader(),
    onChange: (listener) => leader.onChange(() => void listener()),
  };
}

export interface ReconcilerOptions {
  clock?: Clock;
  /** Told at the end of each pass, with when it started (the reconcile_passes_total metric, and the last pass's start). */
  onPass?: (cluster: string, startedAt: number) => void;
  /** How often each cluster's fingerprint is read (reconcile/fingerprint.ts); fingerprintIntervalMs unless told. */
  fingerprintIntervalMs?: number;
}

interface ClusterWork {
  loop: ClusterLoop;
  listeners: DriftListeners;
  fingerprint: FingerprintWatch;
}

export class Reconciler {
  /** DatabaseCluster name → its loop and its listeners. */
  private readonly loops = new Map<string, ClusterWork>();
  private supervisor: unknown;
  private beat: () => void = () => undefined;
  private supervising: Promise<void> | undefined;
  private defaultIntervalMs = 0;
  private stopped = false;
  /** uid → when the next correction may be tried, how many failed in a row, and on which cluster. */
  private readonly backoff = new Map<string, { failures: number; notBefore: number; cluster: string }>();
  private readonly secretTriggers: SecretTriggers;
  private readonly clock: Clock;

  constructor(
    /** In dependency order: clusters, databases, roles. */
    private readonly kinds: readonly ResourceKind[],
    private readonly deps: Dependencies,
    private readonly locks: ObjectLocks,
    /** Which clusters this replica reconciles, when several replicas share a store. */
    private readonly ownership: ClusterOwnership,
    private readonly options: ReconcilerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.secretTriggers = new SecretTriggers(
      deps.store,
      deps.core,
      (clusters) => this.nudge(clusters),
      deps.log,
      // A new role or database is digested from its next read on, not from the next pass.
      (change) => {
        if (change.type === 'ADDED') this.loops.get(change.cluster)?.fingerprint.add(change.kind, change.name);
      },
    );
  }

  /**
   * Every `defaultIntervalMs`, and as soon as what this replica owns changes: a loop for every DatabaseCluster it
   * owns that exists or is referred to (its objects then show that it is missing), at the cluster's interval;
   * loops of clusters gone or no longer owned stop. A replica that owns none does not follow Secrets either.
   */
  start(defaultIntervalMs: number, beat?: () => void): void {
    this.defaultIntervalMs = defaultIntervalMs;
    if (beat) this.beat = beat;
    this.ownership.onChange(() => {
      void this.superviseNow();
      return this.stopUnowned();
    });
    this.supervise();
  }

  /** The clusters whose loop runs on this replica. */
  clusters(): string[] {
    return [...this.loops.keys()];
  }

  private supervise(): void {
    this.clock.clearTimeout(this.supervisor);
    this.beat();
    this.supervising = this.superviseLoops(this.defaultIntervalMs).finally(() => {
      if (!this.stopped) this.supervisor = this.clock.setTimeout(() => this.supervise(), this.defaultIntervalMs);
    });
  }

  /** A supervision now, once the one under way ends (its next is then replaced): one chain of supervisions, never two. */
  private async superviseNow(): Promise<void> {
    const underWay = this.supervising;
    await underWay;
    if (!this.stopped && this.supervising === underWay) this.supervise();
  }

  /** The loops of the clusters this replica no longer owns, stopped at once; the Secret watch too once none is left. */
  private async stopUnowned(): Promise<void> {
    const lost = [...this.loops.keys()].filter((cluster) => !this.ownership.owns(cluster));
    const stopping = Promise.all(lost.map((cluster) => this.stopLoop(cluster)));
    if (this.loops.size === 0) this.secretTriggers.stop();
    await stopping;
  }

  private async superviseLoops(defaultIntervalMs: number): Promise<void> {
    try {
      const wanted = this.ownership.ownsAny() ? await this.clusterIntervals(defaultIntervalMs) : new Map<string, number>();
      // Ownership may have changed while the clusters were listed: it is asked again after.
      for (const cluster of wanted.keys()) if (!this.ownership.owns(cluster)) wanted.delete(cluster);
      for (const [cluster, intervalMs] of wanted) this.loopOf(cluster, intervalMs).loop.setIntervalMs(intervalMs);
      await Promise.all([...this.loops.keys()].filter((cluster) => !wanted.has(cluster)).map((cluster) => this.stopLoop(cluster)));
      if (this.loops.size > 0) await this.secretTriggers.start();
      else this.secretTriggers.stop();
    } catch (error) {
      this.deps.log.warn(failure(error), 'listing the clusters to reconcile failed');
    }
  }

  /** Cluster name → its interval, for every cluster stored or referred to. */
  private async clusterIntervals(defaultIntervalMs: number): Promise<Map<string, number>> {
    const intervals = new Map<string, number>();
    for (const kind of this.kinds) {
      const resource = storeResource(kind);
      for (const object of (await this.deps.store.list(resource, {})).items) {
        const cluster = clusterOf(resource, object);
        if (cluster === undefined) continue;
        if (resource === resources.clusters)
          intervals.set(cluster, resyncIntervalMs(object.spec as DatabaseClusterSpec, defaultIntervalMs));
        else if (!intervals.has(cluster)) intervals.set(cluster, defaultIntervalMs);
      }
    }
    return intervals;
  }

  private loopOf(cluster: string, intervalMs: number): ClusterWork {
    let work = this.loops.get(cluster);
    if (!work) {
      const log = this.deps.log.child({ cluster });
      const listeners = new DriftListeners(() => loop.nudge(), log);
      const fingerprint = new FingerprintWatch(() => loop.nudge(), log, this.clock, this.options.fingerprintIntervalMs);
      const loop = new ClusterLoop(() => this.pass(cluster, listeners, fingerprint), intervalMs, undefined, this.clock);
      work = { loop, listeners, fingerprint };
      this.loops.set(cluster, work);
      loop.start();
    }
    return work;
  }

  /** A pass soon on these clusters (every one when none are given); one without a loop has none to run. */
  nudge(clusters: Iterable<string> = this.loops.keys()): void {
    let ownedWithoutLoop = false;
    for (const cluster of clusters) {
      const work = this.loops.get(cluster);
      if (work) work.loop.nudge();
      else ownedWithoutLoop ||= this.ownership.owns(cluster);
    }
    // A cluster with no loop yet (just created) gets one now rather than at the next supervision.
    if (ownedWithoutLoop && !this.stopped) this.supervise();
  }

  private async stopLoop(cluster: string): Promise<void> {
    const work = this.loops.get(cluster);
    this.loops.delete(cluster);
    this.forgetBackoff(cluster, new Set());
    await work?.loop.stop();
    await work?.fingerprint.stop();
    await work?.listeners.stop();
  }

  /**
   * One pass over the objects of one cluster, kind by kind, then its listeners follow its databases. It never
   * throws; it resolves with how soon the first object backing off may be tried again, if one is.
   */
  private async pass(cluster: string, listeners: DriftListeners, fingerprint: FingerprintWatch): Promise<number | undefined> {
    const startedAt = this.clock.now();
    await fingerprint.beforePass();
    const databases: string[] = [];
    /** The managed role names, once they were read (a failed read keeps the digest's roles as they were). */
    let roles: string[] | undefined;
    /** Every database a Database names, once they were read: only then may a listened one count as released. */
    let named: string[] | undefined;
    const tried: string[] = [];
    /** Whether a correction was written: one more pass then follows (see FingerprintWatch.afterPass). */
    let corrected = false;
    /** The uids of every object of the cluster, once all kinds were read: the backoff of the others is forgotten. */
    let present: Set<string> | undefined = new Set<string>();
    for (const kind of this.kinds) {
      if (!this.ownership.owns(cluster) || this.stopped) {
        present = undefined;
        break;
      }
      try {
        const resource = storeResource(kind);
        const items = await this.objectsOf(resource, cluster);
        for (const item of items) present?.add(String(item.metadata.uid));
        const live = kind.strategy.decorate && items.length > 0 ? await kind.strategy.decorate(items) : items;
        for (const object of live) {
          if (this.stopped) break; // a stopping server writes nothing more
          if (object.metadata.deletionTimestamp) await this.finishDeletion(kind, cluster, object);
          else if (differs(object)) corrected = (await this.correct(kind, cluster, object)) || corrected;
          else continue;
          tried.push(String(object.metadata.uid));
        }
        // A database being dropped is going away: nobody listens to it any more.
        if (resource === resources.databases) {
          databases.push(...items.filter((o) => !o.metadata.deletionTimestamp).map((o) => (o.spec as DatabaseSpec).name));
          named = items.map((o) => (o.spec as DatabaseSpec).name);
        }
        if (resource === resources.roles)
          roles = items.filter((o) => !o.metadata.deletionTimestamp).map((o) => (o.spec as DatabaseRoleSpec).roleName);
      } catch (error) {
        present = undefined;
        this.deps.log.warn({ ...failure(error), kind: kind.kind, cluster }, 'reconcile pass failed');
      }
    }
    if (present) this.forgetBackoff(cluster, present);
    await this.follow(cluster, { listeners, fingerprint }, { databases, named, roles, readAt: startedAt, corrected });
    this.options.onPass?.(cluster, startedAt);
    const retryAt = Math.min(...tried.map((uid) => this.backoff.get(uid)?.notBefore ?? Infinity));
    return Number.isFinite(retryAt) ? Math.max(0, retryAt - this.clock.now()) : undefined;
  }

  /** Forgets the backoff of the cluster's objects that are not `present` (deleted, or moved to another cluster). */
  private forgetBackoff(cluster: string, present: ReadonlySet<string>): void {
    for (const [uid, entry] of this.backoff) if (entry.cluster === cluster && !present.has(uid)) this.backoff.delete(uid);
  }

  /** How many objects wait for a retry of their correction. */
  backingOff(): number {
    return this.backoff.size;
  }

  /** The cluster itself, or the objects of a kind that refer to it: only those are read. */
  private async objectsOf(resource: string, cluster: string): Promise<KubeObject[]> {
    if (resource !== resources.clusters) return objectsOnCluster(this.deps, resource, cluster);
    const object = await readOrUndefined(this.deps.store, resource, '', cluster);
    return object ? [object] : [];
  }

  /**
   * The cluster's listeners follow its databases, and its fingerprint watch its roles and databases, through the
   * catalog of its current DSN; neither runs while it cannot be resolved.
   */
  private async follow(
    cluster: string,
    fast: { listeners: DriftListeners; fingerprint: FingerprintWatch },
    managed: { databases: string[]; named: string[] | undefined; roles: string[] | undefined; readAt: number; corrected: boolean },
  ): Promise<void> {
    try {
      const resolved = await resolveCluster(this.deps, cluster);
      const catalog = isProblem(resolved) ? undefined : resolved.catalog;
      fast.fingerprint.follow(catalog, managed.roles, managed.named && managed.databases, managed.readAt);
      await fast.fingerprint.afterPass(managed.corrected);
      await fast.listeners.follow(catalog, managed.databases, managed.named);
    } catch (error) {
      this.deps.log.warn({ ...failure(error), cluster }, 'following the databases to listen to failed');
    }
  }

  private async driftPolicy(object: KubeObject): Promise<string> {
    const ref = (object.spec as { databaseClusterRef?: { name: string } } | undefined)?.databaseClusterRef;
    if (!ref) return 'Report';
    const cluster = await readOrUndefined(this.deps.store, resources.clusters, '', ref.name);
    return (cluster?.spec as { driftPolicy?: string } | undefined)?.driftPolicy ?? 'Correct';
  }

  /** Runs `work` under the object's lock on its latest stored state: requests' writes never interleave. */
  private latest(kind: ResourceKind, seen: KubeObject, work: (object: KubeObject) => Promise<void>): Promise<void> {
    const resource = storeResource(kind);
    return this.locks.run(objectKey(resource, seen.metadata.namespace, seen.metadata.name), async () => {
      const object = await readOrUndefined(this.deps.store, resource, seen.metadata.namespace ?? '', seen.metadata.name);
      if (object && object.metadata.uid === seen.metadata.uid) await work({ ...object, status: seen.status });
    });
  }

  /** Whether the object was written again (its drift corrected). */
  private async correct(kind: ResourceKind, cluster: string, seen: KubeObject): Promise<boolean> {
    let corrected = false;
    await this.latest(kind, seen, async (object) => void (corrected = await this.rewrite(kind, cluster, object)));
    return corrected;
  }

  /** A delete that could not finish (its drop failed): tried again, with the same backoff. */
  private finishDeletion(kind: ResourceKind, cluster: string, seen: KubeObject): Promise<void> {
    const reclaim = kind.strategy.reclaim;
    if (!reclaim || !((seen.metadata.finalizers as string[] | undefined) ?? []).includes(reclaim.finalizer)) return Promise.resolve();
    return this.latest(kind, seen, async (object) => {
      await this.attempt(kind, cluster, object, async () => {
        const { warnings } = await deleteStored(kind, this.deps.store, object);
        if (warnings.length > 0) throw new Error(warnings.join('; '));
        this.deps.log.info({ kind: kind.kind, object: objectName(object) }, 'deletion finished');
      });
    });
  }

  /**
   * Runs the object's write again (its SQL), then stores what the write recorded and the new live status;
   * whether it did so without a fault.
   */
  private async rewrite(kind: ResourceKind, cluster: string, object: KubeObject): Promise<boolean> {
    const { admit, decorate } = kind.strategy;
    if (!admit || !decorate || object.metadata.deletionTimestamp) return false;
    if ((await this.driftPolicy(object)) !== 'Correct') return false;
    return this.attempt(kind, cluster, object, async () => {
      const { object: stored, written, statusIsLive, warnings } = await writeStored(kind, this.deps.store, object);
      if (!written) throw new Error(warnings.join('; ') || 'the cluster cannot be written to now');
      const [after] = statusIsLive ? [stored] : await decorate([stored]);
      if (warnings.length > 0 || differs(after!)) throw new Error(warnings.join('; ') || 'the catalog still differs from the spec');
      this.deps.log.info({ kind: kind.kind, object: objectName(object) }, 'drift corrected');
    });
  }

  /**
   * Runs `work` unless the object is backing off or this replica no longer owns its cluster (every write of the
   * reconciler passes here); a failure backs off exponentially, with jitter. Whether `work` ran and succeeded.
   */
  private async attempt(kind: ResourceKind, cluster: string, object: KubeObject, work: () => Promise<void>): Promise<boolean> {
    const uid = String(object.metadata.uid);
    const wait = this.backoff.get(uid);
    if ((wait && wait.notBefore > this.clock.now()) || !this.ownership.owns(cluster) || this.stopped) return false;
    try {
      await work();
      this.backoff.delete(uid);
      return true;
    } catch (error) {
      const failures = (wait?.failures ?? 0) + 1;
      const delay = backoffDelay(failures, { firstMs: firstBackoffMs, maxMs: maxBackoffMs });
      this.backoff.set(uid, { failures, notBefore: this.clock.now() + delay, cluster });
      this.deps.log.warn(
        { kind: kind.kind, object: objectName(object), failures, ...failure(error), retryAt: rfc3339(new Date(this.clock.now() + delay)) },
        'reconciling failed; retried later',
      );
      return false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.supervisor);
    await this.supervising;
    this.secretTriggers.stop();
    await Promise.all([...this.loops.keys()].map((cluster) => this.stopLoop(cluster)));
  }
}
