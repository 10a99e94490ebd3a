// The loop (DESIGN.md, reconcile/): every interval it reads every object with its live status (a status that
// changed is persisted, so watchers see MODIFIED when drift appears) and, where the object's DatabaseCluster
// says driftPolicy: Correct, runs the object's write again so the catalog matches the spec. Failures back off
// per object; one failing object never stops the others.
import { objectKey, type ObjectLocks } from '../apiserver/locks.ts';
import type { Logger } from '../apiserver/log.ts';
import { storeResource, type KubeObject, type ResourceKind, type ResourceStore } from '../apiserver/resource.ts';
import { deleteObject } from '../apiserver/rest.ts';
import { readOrUndefined, resources } from '../apiserver/resources/services.ts';

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

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** uid → when the next correction may be tried, and how many failed in a row. */
  private readonly backoff = new Map<string, { failures: number; notBefore: number }>();

  constructor(
    /** In dependency order: clusters, databases, roles. */
    private readonly kinds: readonly ResourceKind[],
    private readonly store: ResourceStore,
    private readonly locks: ObjectLocks,
    private readonly log: Logger,
    /** Only the leader reconciles when several replicas share a store. */
    private readonly isLeader: () => boolean = () => true,
  ) {}

  /** One pass over every object of every kind. */
  async pass(): Promise<void> {
    for (const kind of this.kinds) {
      try {
        const { items } = await this.store.list(storeResource(kind), {});
        const live = kind.strategy.decorate && items.length > 0 ? await kind.strategy.decorate(items) : items;
        for (const object of live) {
          if (object.metadata.deletionTimestamp) await this.finishDeletion(kind, object);
          else if (differs(object)) await this.correct(kind, object);
        }
      } catch (error) {
        this.log.warn({ err: error, kind: kind.kind }, 'reconcile pass failed');
      }
    }
  }

  private async driftPolicy(object: KubeObject): Promise<string> {
    const ref = (object.spec as { databaseClusterRef?: { name: string } } | undefined)?.databaseClusterRef;
    if (!ref) return 'Report';
    const cluster = await readOrUndefined(this.store, resources.clusters, '', ref.name);
    return (cluster?.spec as { driftPolicy?: string } | undefined)?.driftPolicy ?? 'Correct';
  }

  /** Runs `work` under the object's lock on its latest stored state: requests' writes never interleave. */
  private latest(kind: ResourceKind, seen: KubeObject, work: (object: KubeObject) => Promise<void>): Promise<void> {
    const resource = storeResource(kind);
    return this.locks.run(objectKey(resource, seen.metadata.namespace, seen.metadata.name), async () => {
      const object = await readOrUndefined(this.store, resource, seen.metadata.namespace ?? '', seen.metadata.name);
      if (object && object.metadata.uid === seen.metadata.uid) await work({ ...object, status: seen.status });
    });
  }

  private correct(kind: ResourceKind, seen: KubeObject): Promise<void> {
    return this.latest(kind, seen, (object) => this.rewrite(kind, object));
  }

  /** A delete that could not finish (its drop failed): tried again, with the same backoff. */
  private finishDeletion(kind: ResourceKind, seen: KubeObject): Promise<void> {
    const reclaim = kind.strategy.reclaim;
    if (!reclaim || !((seen.metadata.finalizers as string[] | undefined) ?? []).includes(reclaim.finalizer)) return Promise.resolve();
    return this.latest(kind, seen, (object) => this.attempt(kind, object, async () => {
      const warnings: string[] = [];
      await deleteObject(kind, this.store, object, { user: undefined, dryRun: false, warn: (w) => warnings.push(w) });
      if (warnings.length > 0) throw new Error(warnings.join('; '));
      this.log.info({ kind: kind.kind, namespace: object.metadata.namespace, name: object.metadata.name }, 'deletion finished');
    }));
  }

  /** Runs the object's write again (its SQL), then stores what the write recorded and the new live status. */
  private async rewrite(kind: ResourceKind, object: KubeObject): Promise<void> {
    const { beforeWrite, decorate } = kind.strategy;
    if (!beforeWrite || !decorate || object.metadata.deletionTimestamp) return;
    if ((await this.driftPolicy(object)) !== 'Correct') return;
    await this.attempt(kind, object, async () => {
      const warnings: string[] = [];
      const written = await beforeWrite(object, object, { user: undefined, dryRun: false, warn: (w) => warnings.push(w) });
      const stored = JSON.stringify(written.status) === JSON.stringify(object.status)
        ? object
        : await this.store.update(storeResource(kind), written, { expectedResourceVersion: String(object.metadata.resourceVersion) });
      const [after] = await decorate([stored]);
      if (warnings.length > 0 || differs(after!)) throw new Error(warnings.join('; ') || 'the catalog still differs from the spec');
      this.log.info({ kind: kind.kind, namespace: object.metadata.namespace, name: object.metadata.name }, 'drift corrected');
    });
  }

  /** Runs `work` unless the object is backing off; a failure backs off exponentially, with jitter. */
  private async attempt(kind: ResourceKind, object: KubeObject, work: () => Promise<void>): Promise<void> {
    const uid = String(object.metadata.uid);
    const wait = this.backoff.get(uid);
    if (wait && wait.notBefore > Date.now()) return;
    try {
      await work();
      this.backoff.delete(uid);
    } catch (error) {
      const failures = (wait?.failures ?? 0) + 1;
      const delay = Math.min(maxBackoffMs, firstBackoffMs * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
      this.backoff.set(uid, { failures, notBefore: Date.now() + delay });
      this.log.warn({ kind: kind.kind, namespace: object.metadata.namespace, name: object.metadata.name, failures, err: error }, 'reconciling failed; backing off');
    }
  }

  /** A pass every `intervalMs`, one at a time. */
  start(intervalMs: number): void {
    const tick = () => {
      this.running = (this.isLeader() ? this.pass() : Promise.resolve()).finally(() => {
        this.running = undefined;
        if (this.timer) this.timer = setTimeout(tick, intervalMs);
      });
    };
    this.timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
