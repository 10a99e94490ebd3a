// What the kinds share: their dependencies (other objects in the store, Secrets, the PostgreSQL servers: one
// catalog per DatabaseCluster), how a DatabaseCluster reference becomes a live catalog, conditions, live status
// persisted, reclaim, and how a write's fault is told.
import type { Condition, DriftEntry, LabelSelector, WriteError } from '../../openapi/common.ts';
import { connectionBudgetOf, type DatabaseClusterSpec } from '../../openapi/databasecluster.ts';
import { kinds } from '../../openapi/index.ts';
import type { ServerCatalog } from '../../storage/catalog/server.ts';
import { CatalogError } from '../../storage/catalog/errors.ts';
import type { CatalogRegistry } from '../../storage/catalog/registry.ts';
import type { Plan } from '../../storage/catalog/plan.ts';
import type { Snapshot, SnapshotScope } from '../../storage/catalog/snapshot.ts';
import { hasLabels } from '../../lib/labels.ts';
import type { CoreObjects, SecretReader } from '../../storage/kubernetes/types.ts';
import { failure, type Logger } from '../../lib/log.ts';
import type { EventSink } from '../../storage/kubernetes/events.ts';
import { invalid, StatusError } from '../../openapi/status.ts';
import { storeResource, type Reclaim, type WriteContext } from './resource.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { ResourceStore } from '../../storage/objects/types.ts';
import { rfc3339 } from '../../lib/time.ts';
import { within } from '../../lib/promises.ts';
import { Conflict, NotFound } from '../../storage/objects/errors.ts';
import { getOrAdd } from '../../lib/maps.ts';

/** What the kinds' rules reach beyond the object: built once by the composition root (modes/server.ts). */
export interface Dependencies {
  store: ResourceStore;
  secrets: SecretReader;
  core: CoreObjects;
  catalogs: CatalogRegistry;
  events: EventSink;
  log: Logger;
  /** Asks the cluster's loop for a pass soon, where this replica runs it (wired to the reconciler by modes/). */
  nudge?: (cluster: string) => void;
}

export const resources = {
  clusters: storeResource(kinds.databaseclusters),
  databases: storeResource(kinds.databases),
  roles: storeResource(kinds.databaseroles),
};

/** Why a cluster cannot be used right now: a fault of the environment, reported in status, never a value. */
export interface ClusterProblem {
  reason: 'ClusterNotFound' | 'SecretNotFound' | 'SecretKeyMissing' | 'MalformedDSN';
  message: string;
}

export interface ResolvedCluster {
  object: KubeObject & { spec: DatabaseClusterSpec };
  catalog: ServerCatalog;
  /** host:port from the DSN; never the password. */
  host: string;
  /** The DSN's sslmode, if it names one, for the connection details given to applications. */
  sslmode: string | undefined;
}

export function isProblem(value: ResolvedCluster | ClusterProblem): value is ClusterProblem {
  return 'reason' in value;
}

export async function readOrUndefined(
  store: ResourceStore,
  resource: string,
  namespace: string,
  name: string,
): Promise<KubeObject | undefined> {
  return store.get(resource, namespace, name).catch((error: unknown) => {
    if (error instanceof NotFound) return undefined;
    throw error;
  });
}

/** The DatabaseCluster, its DSN from the Secret, and the catalog for it. */
export async function resolveCluster(deps: Dependencies, name: string): Promise<ResolvedCluster | ClusterProblem> {
  const object = (await readOrUndefined(deps.store, resources.clusters, '', name)) as ResolvedCluster['object'] | undefined;
  if (!object) return { reason: 'ClusterNotFound', message: `DatabaseCluster "${name}" does not exist` };
  return resolveClusterObject(deps, object);
}

/** A DatabaseCluster object's DSN from its Secret, and the catalog for it. */
export async function resolveClusterObject(
  deps: Dependencies,
  object: ResolvedCluster['object'],
): Promise<ResolvedCluster | ClusterProblem> {
  const name = object.metadata.name;
  const { namespace, name: secretName, key = 'connection' } = object.spec.connection;
  const secret = await deps.secrets.read(namespace, secretName);
  if (!secret) return { reason: 'SecretNotFound', message: `Secret ${namespace}/${secretName} does not exist` };
  const dsn = secret.data[key];
  if (dsn === undefined) return { reason: 'SecretKeyMissing', message: `Secret ${namespace}/${secretName} has no key "${key}"` };
  let url: URL;
  try {
    url = new URL(dsn.trim());
  } catch {
    return { reason: 'MalformedDSN', message: `the value of key "${key}" in Secret ${namespace}/${secretName} is not a postgres:// URL` };
  }
  if (!['postgres:', 'postgresql:'].includes(url.protocol) || !url.hostname) {
    return { reason: 'MalformedDSN', message: `the value of key "${key}" in Secret ${namespace}/${secretName} is not a postgres:// URL` };
  }
  const sslmode = url.searchParams.get('sslmode') ?? undefined;
  const catalog = deps.catalogs.catalogFor(name, dsn.trim(), connectionBudgetOf(object.spec));
  return { object, catalog, host: `${url.hostname}:${url.port || '5432'}`, sslmode };
}

function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  return (
    hasLabels(labels, selector?.matchLabels ?? {}) &&
    (selector?.matchExpressions ?? []).every((e) => {
      const has = Object.hasOwn(labels, e.key);
      switch (e.operator) {
        case 'In':
          return has && (e.values ?? []).includes(labels[e.key]!);
        case 'NotIn':
          return !has || !(e.values ?? []).includes(labels[e.key]!);
        case 'Exists':
          return has;
        case 'DoesNotExist':
          return !has;
      }
    })
  );
}

/** DatabaseCluster.spec.allowedNamespaces: whether objects of `namespace` may use the cluster. */
export async function namespaceAllowed(deps: Dependencies, cluster: ResolvedCluster['object'], namespace: string): Promise<boolean> {
  const allowed = cluster.spec.allowedNamespaces;
  if (!allowed || (allowed.from ?? 'All') === 'All') return true;
  const selected = (ns: KubeObject | undefined) => selectorMatches(allowed.selector, (ns?.metadata.labels ?? {}) as Record<string, string>);
  // What is kept in memory may miss a label set a moment ago: a refusal is decided on the Namespace as it is now.
  return selected(await deps.core.namespace(namespace)) || selected(await deps.core.namespace(namespace, true));
}

/** Every object of a kind that refers to the cluster, in every namespace. */
export function objectsOnCluster(deps: Dependencies, resource: string, cluster: string): Promise<KubeObject[]> {
  return deps.store.find(resource, ['spec', 'databaseClusterRef', 'name'], [cluster]);
}

/** A condition; its lastTransitionTime only moves when its status changes. */
export function condition(
  type: string,
  ok: boolean,
  reason: string,
  message: string,
  generation: number,
  previous: Condition[] | undefined,
): Condition {
  const status = ok ? 'True' : 'False';
  const before = previous?.find((c) => c.type === type);
  const lastTransitionTime = before?.status === status ? before.lastTransitionTime : rfc3339();
  return { type, status, observedGeneration: generation, lastTransitionTime, reason, message };
}

const rehearsedShown = 10;

/** A dry run says what its write would do: the statements' descriptions (they never hold a secret), as Warnings. */
export function warnRehearsed(request: WriteContext, plan: Plan): void {
  const descriptions = plan.statements.map((s) => s.description);
  for (const description of descriptions.slice(0, rehearsedShown)) request.warn(`dry run, not done: ${description}`);
  if (descriptions.length > rehearsedShown) request.warn(`dry run, not done: ${descriptions.length - rehearsedShown} more statements`);
}

/** A fault met talking to PostgreSQL, as status and Warning headers show it (never a secret: see CatalogError). */
export function environmentFault(error: unknown): { reason: string; message: string } {
  if (error instanceof CatalogError) return { reason: error.reason, message: error.message };
  return { reason: 'Unavailable', message: error instanceof Error ? error.message : String(error) };
}

/** The object, as 4xx answers name it. */
export function subject(object: KubeObject) {
  const kind = Object.values(kinds).find((k) => k.kind === object.kind)!;
  return { group: kind.group, resource: kind.plural, kind: kind.kind, name: object.metadata.name };
}

/**
 * A write's SQL failed. PostgreSQL refusing the object itself before any of its SQL ran (a locale, an extension
 * the server does not have) is the request's 422: a create keeps nothing. Any other fault is the environment's:
 * a Warning and an Event, and the object stays (Ready=False), retried, with the fault recorded in its status.
 */
export async function writeFailed<T extends KubeObject>(deps: Dependencies, object: T, error: unknown, request: WriteContext): Promise<T> {
  if (error instanceof CatalogError && error.isObjectFault && !error.planPartlyApplied) {
    throw invalid(subject(object), [
      { type: 'FieldValueInvalid', field: 'spec', message: `Invalid value: PostgreSQL refused it ${error.message}` },
    ]);
  }
  const fault = environmentFault(error);
  request.warn(`${fault.message}; it is retried`);
  if (request.dryRun) return object;
  deps.events.record(object, 'Warning', fault.reason, fault.message);
  return recordWrite(object, { ...fault, time: rfc3339() });
}

/** What a write that ran SQL records in status: when, and the fault it met (none clears the last one). */
export function recordWrite<T extends KubeObject>(object: T, fault: WriteError | undefined): T {
  return { ...object, status: { ...(object.status as object | undefined), lastReconcileTime: rfc3339(), lastWriteError: fault } };
}

interface WriteRecord {
  lastReconcileTime?: string;
  lastWriteError?: WriteError;
}

/**
 * The write's record, kept in a status computed from the catalog; its fault only while the catalog still
 * differs from the spec (`settled`: it no longer does).
 */
export function keptRecord(status: WriteRecord | undefined, settled: boolean): WriteRecord {
  return {
    ...(status?.lastReconcileTime ? { lastReconcileTime: status.lastReconcileTime } : {}),
    ...(status?.lastWriteError && !settled ? { lastWriteError: status.lastWriteError } : {}),
  };
}

/** A False condition's reason and message: the last write's fault where there is one (the cause), else `why`. */
export function becauseOf(ok: boolean, why: readonly [string, string], fault: WriteError | undefined): readonly [string, string] {
  return !ok && fault ? [fault.reason, fault.message] : why;
}

/** One drift entry as a person reads it: "table app.public.orders: DELETE expected granted, found revoked". */
function describeDrift(entry: DriftEntry): string {
  // A database's or schema's own entry names it once: "db", not "db.db".
  const parts = [entry.database, entry.schema].filter(Boolean);
  const where = [...parts, ...(entry.object && entry.object !== parts.at(-1) ? [entry.object] : [])].join('.');
  return `${entry.kind} ${where}: ${entry.privilege ?? entry.attribute ?? 'existence'} expected ${entry.expected}, found ${entry.actual}`;
}

const driftShown = 5;

/** What a DriftDetected Event says: what differs, never a value of a Secret. */
export function driftMessage(drift: readonly DriftEntry[]): string {
  const shown = drift.slice(0, driftShown).map(describeDrift).join('; ');
  const more = drift.length > driftShown ? `; and ${drift.length - driftShown} more` : '';
  return `${drift.length} difference${drift.length === 1 ? '' : 's'} between the spec and the catalog: ${shown}${more}`;
}

function driftOf(status: unknown): DriftEntry[] {
  return (status as { drift?: DriftEntry[] } | undefined)?.drift ?? [];
}

/** Status updates under way, per store: concurrent reads that would store the same status share one update. */
const statusUpdates = new WeakMap<ResourceStore, Map<string, Promise<KubeObject>>>();

/** A stored object's status as JSON: stored objects are shared and never changed, so each is serialized once. */
const storedStatuses = new WeakMap<KubeObject, string>();

function storedStatusJson(object: KubeObject): string {
  return getOrAdd(storedStatuses, object, () => JSON.stringify(object.status ?? null));
}

/**
 * Each object's live status by `statusOf`, or its stored status object when the live one says the same. The new
 * one is then dropped as soon as it is made, rather than kept until a read's statuses are all compared: a list
 * of 1,000 kept them long enough to be promoted, and the collector paid for 1,000 dead statuses each time.
 */
export function liveStatusMap<T extends KubeObject>(list: readonly T[], statusOf: (object: T, index: number) => object): Map<T, object> {
  return new Map(
    list.map((o, i) => {
      const status = statusOf(o, i);
      return [o, storedStatusJson(o) === JSON.stringify(status) ? (o.status as object) : status];
    }),
  );
}

/**
 * Stores a status read from the catalog when it differs from the stored one, so watchers see MODIFIED; a
 * concurrent write wins (the next read tries again). Concurrent reads that found the same status for the same
 * version of the object share one update, rather than all but one failing on a Conflict. Drift that appears or
 * changes on what existed is recorded as a Warning Event by the one write that stored it.
 */
export function persistStatus(deps: Dependencies, resource: string, object: KubeObject, status: object): Promise<KubeObject> {
  if (status === object.status) return Promise.resolve(object);
  const serialized = JSON.stringify(status);
  if (storedStatusJson(object) === serialized) return Promise.resolve(object);
  const { namespace = '', name, resourceVersion } = object.metadata;
  const key = JSON.stringify([resource, namespace, name, resourceVersion, serialized]);
  const updates = getOrAdd(statusUpdates, deps.store, () => new Map<string, Promise<KubeObject>>());
  const shared = updates.get(key);
  if (shared) return shared;
  const update = storeStatus(deps, resource, object, status).finally(() => updates.delete(key));
  updates.set(key, update);
  return update;
}

async function storeStatus(deps: Dependencies, resource: string, object: KubeObject, status: object): Promise<KubeObject> {
  const next = { ...object, status };
  const stored = await deps.store
    .update(resource, next, { expectedResourceVersion: String(object.metadata.resourceVersion) })
    .catch((error: unknown) => {
      if (error instanceof Conflict || error instanceof NotFound) return undefined;
      throw error;
    });
  if (!stored) return next;
  const drift = driftOf(status);
  // Drift happens to what existed: a new object read before its first write ran has nothing to drift from yet.
  const existed = (object.status as { exists?: boolean } | undefined)?.exists === true;
  if (existed && drift.length > 0 && JSON.stringify(drift) !== JSON.stringify(driftOf(object.status))) {
    deps.events.record(stored, 'Warning', 'DriftDetected', driftMessage(drift));
  }
  return stored;
}

/** The finalizer of objects whose reclaimPolicy is Delete: the object stays until its drop has run. */
export const reclaimFinalizer = 'postgres.databases.dinhloc.dev/reclaim';

/** reclaimPolicy Delete: runs a deletion plan; throws (with the reason, never a secret) when it cannot now. */
export function reclaimHook(
  deps: Dependencies,
  planFor: (object: KubeObject) => { cluster: string; what: string; scope: SnapshotScope; plan(snapshot: Snapshot): Plan },
): Reclaim {
  return {
    finalizer: reclaimFinalizer,
    needed: (object) => (object.spec as { reclaimPolicy?: string } | undefined)?.reclaimPolicy === 'Delete',
    run: async (object) => {
      const { cluster, what, scope, plan } = planFor(object);
      const resolved = await resolveCluster(deps, cluster);
      if (isProblem(resolved)) throw new StatusError('ServiceUnavailable', `cannot drop ${what} yet: ${resolved.message}`);
      try {
        await resolved.catalog.apply(plan(await resolved.catalog.snapshot(scope, { fresh: true })));
      } catch (error) {
        throw new StatusError('ServiceUnavailable', `cannot drop ${what} yet: ${environmentFault(error).message}`);
      }
    },
  };
}

type ClusterObject = KubeObject & { spec: { databaseClusterRef: { name: string } }; status?: { conditions?: Condition[] } };

/** How long a read across several clusters waits for each one's live status (a frozen server must not hold up the rest). */
export const clusterReadMs = 3_000;

/**
 * The read path of the namespaced kinds: objects grouped by cluster, one live read per cluster (`live`), in
 * parallel; a status with the given conditions False for every object of a cluster that cannot be read; then
 * each status persisted when it changed. A read across several clusters waits `clusterReadMs` for each: one
 * that has not answered by then is shown with its stored status and a Warning (`warn`), and its live status
 * is persisted when it comes.
 */
export async function decorateByCluster<T extends ClusterObject>(
  deps: Dependencies,
  resource: string,
  objects: readonly T[],
  conditionTypes: readonly string[],
  warn: ((text: string) => void) | undefined,
  live: (list: T[], cluster: ResolvedCluster) => Promise<Map<T, object>>,
): Promise<KubeObject[]> {
  // Grouped by hand: Map.groupBy needs Node 21.
  const byCluster = new Map<string, T[]>();
  for (const o of objects) getOrAdd(byCluster, o.spec.databaseClusterRef.name, (): T[] => []).push(o);
  const persist = (statuses: Map<T, object>) => Promise.all([...statuses].map(([o, status]) => persistStatus(deps, resource, o, status)));
  const read = (name: string, list: T[]) => liveStatuses(deps, name, list, conditionTypes, live);
  const waitFor = byCluster.size > 1 && warn ? clusterReadMs : undefined;
  const shown = await Promise.all(
    [...byCluster].map(async ([name, list]) => {
      const statuses = read(name, list);
      if (waitFor === undefined) return persist(await statuses);
      const answered = await within(statuses, waitFor);
      if (answered) return persist(answered);
      warn!(`DatabaseCluster "${name}" did not answer within ${waitFor / 1000}s: its ${list.length} object(s) show the status last read`);
      void statuses
        .then(persist)
        .catch((error: unknown) => deps.log.debug({ ...failure(error), cluster: name }, 'a late live status was not persisted'));
      return list;
    }),
  );
  const byUid = new Map(shown.flat().map((o) => [o.metadata.uid, o]));
  return objects.map((o) => byUid.get(o.metadata.uid) ?? o);
}

/** One cluster's live statuses for `list`, or its fault in the given conditions of each. */
async function liveStatuses<T extends ClusterObject>(
  deps: Dependencies,
  name: string,
  list: T[],
  conditionTypes: readonly string[],
  live: (list: T[], cluster: ResolvedCluster) => Promise<Map<T, object>>,
): Promise<Map<T, object>> {
  const failAll = (reason: string, message: string) =>
    new Map(
      list.map((o) => {
        const generation = Number(o.metadata.generation ?? 1);
        const conditions = conditionTypes.map((type) => condition(type, false, reason, message, generation, o.status?.conditions));
        return [o, { ...o.status, conditions, observedGeneration: generation }];
      }),
    );
  const resolved = await resolveCluster(deps, name);
  if (isProblem(resolved)) return failAll(resolved.reason, resolved.message);
  try {
    return await live(list, resolved);
  } catch (error) {
    const fault = environmentFault(error);
    return failAll(fault.reason, fault.message);
  }
}
