// Database: a database on a DatabaseCluster, with its schemas and extensions. A write runs its SQL before it
// answers; a read shows what the catalog holds.
import type { DatabaseSpec, DatabaseStatus } from '../../openapi/database.ts';
import { database } from '../../openapi/database.ts';
import { desiredSchemas, planDatabase, planDatabaseDeletion, validateDatabaseSpec } from '../../storage/catalog/databases.ts';
import { databaseRefusals } from '../../storage/catalog/eligibility.ts';
import type { Snapshot } from '../../storage/catalog/snapshot.ts';
import { notLive, type Admission, type WriteContext, type ResourceKind } from './resource.ts';
import { admitToCluster, eligible, ownership, reachOf } from './tenancy.ts';
import { withoutRecord, withRecord, type Recording } from '../../storage/catalog/ownership.ts';
import { ensureService, removeService, serviceStatusOf, type ServiceStatus } from './dbservice.ts';
import { appliedMessage } from '../../storage/kubernetes/events.ts';
import { immutableErrors, servedKind } from './kind.ts';
import { fixedOnceCreatedFields } from '../../openapi/walk.ts';
import { invalid } from '../../openapi/status.ts';
import { afterDatabaseCreated, releaseDatabase } from './fastpath.ts';
import {
  becauseOf,
  condition,
  decorateByCluster,
  liveStatusMap,
  keptRecord,
  recordWrite,
  isProblem,
  reclaimHook,
  resources,
  subject,
  warnRehearsed,
  writeFailed,
  type ResolvedCluster,
  type Dependencies,
} from './shared.ts';
import type { KubeObject } from '../../openapi/objects.ts';

type DatabaseObject = KubeObject & { spec: DatabaseSpec; status?: DatabaseStatus };

/** What no rule of the cluster can allow: the server's own databases and roles, untrusted extensions (eligibility.ts). */
async function eligibility(deps: Dependencies, object: DatabaseObject, cluster: ResolvedCluster) {
  const { name, owner, template, extensions = [] } = object.spec;
  const [reach, facts] = await Promise.all([
    reachOf(deps, object, cluster.object, owner ? [owner] : []),
    cluster.catalog.serverFacts({ roles: owner ? [owner] : [], databases: [name], extensions }),
  ]);
  return { facts, errors: databaseRefusals({ name, owner, template, extensions }, facts, reach) };
}

const fixedFields = fixedOnceCreatedFields(database.schema.spec, 'spec');

/** A creation setting changed while the database exists (its last read may not have seen it yet): 422. */
function refuseFixedChanges(object: DatabaseObject, old: DatabaseObject): void {
  const errors = immutableErrors(object, old, fixedFields);
  if (errors.length > 0) throw invalid(subject(object), errors);
}

/** Tenancy and eligibility; the database name is claimed on its server, and the write runs once the object is stored. */
async function admit(
  deps: Dependencies,
  object: DatabaseObject,
  old: DatabaseObject | undefined,
  request: WriteContext,
): Promise<Admission> {
  const cluster = await admitToCluster(deps, object, old === undefined, {
    resource: resources.databases,
    keyPath: ['spec', 'name'],
    what: 'database name',
  });
  if (isProblem(cluster.resolved)) {
    request.warn(`${cluster.resolved.message}: the database is created once the cluster can be reached`);
    return { claims: [] };
  }
  const resolved = cluster.resolved;
  const facts = await eligible(object, request, () => eligibility(deps, object, resolved));
  // A server that cannot be read gets no SQL; the Service only needs its address.
  if (!facts)
    return { claims: [], write: async (stored) => notLive(await writeService(deps, stored as DatabaseObject, old, resolved, request)) };
  const { name } = object.spec;
  if (old && facts.databases.has(name)) refuseFixedChanges(object, old);
  const record = await ownership(deps, object, resolved.object, facts, 'database', name, old?.spec.name === name);
  return {
    claims: [{ server: facts.systemIdentifier, kind: 'database', name }],
    write: async (stored) => {
      const written = await writeSql(deps, stored as DatabaseObject, resolved, { schema: facts.ownershipSchema, record }, request);
      return notLive(await writeService(deps, written, old, resolved, request));
    },
  };
}

/**
 * The database's SQL; a fault of the environment is a warning (Ready=False, retried), one of the object a 422
 * (writeFailed). Returns the object with what the write recorded in status, when SQL ran.
 */
async function writeSql(
  deps: Dependencies,
  object: DatabaseObject,
  cluster: ResolvedCluster,
  owner: Recording,
  request: WriteContext,
): Promise<DatabaseObject> {
  try {
    const snapshot = await cluster.catalog.snapshot({ roles: [], databases: [object.spec.name] }, { fresh: true });
    const databasePlan = planDatabase(object.spec, snapshot);
    const plan = withRecord(databasePlan, owner.schema, 'database', object.spec.name, owner.record, snapshot.ownershipSchema);
    // What cannot be planned now (the database's contents unreadable) is said, not silently left out.
    for (const why of databasePlan.pending) request.warn(`${why}; it is retried`);
    if (request.dryRun) {
      await cluster.catalog.rehearse(plan);
      warnRehearsed(request, databasePlan);
      return object;
    }
    if (plan.statements.length === 0) return object;
    await cluster.catalog.apply(plan);
    if (databasePlan.statements.some((s) => s.creates === 'database'))
      await afterDatabaseCreated(deps, cluster, object.spec.name, snapshot.superuser);
    if (databasePlan.statements.length > 0)
      deps.events.record(object, 'Normal', 'Applied', appliedMessage(databasePlan.statements.map((st) => st.description)));
    return recordWrite(object, undefined);
  } catch (error) {
    return writeFailed(deps, object, error, request);
  }
}

/** The database's Service (and the one it had before, under another name, removed). */
async function writeService(
  deps: Dependencies,
  object: DatabaseObject,
  old: DatabaseObject | undefined,
  cluster: ResolvedCluster,
  request: WriteContext,
): Promise<KubeObject> {
  if (request.dryRun) return object;
  const problem = await ensureService(deps, object, cluster.host);
  if (problem) {
    request.warn(problem.message);
    deps.events.record(object, 'Warning', problem.reason, problem.message);
  }
  if (old?.spec.databaseServiceName !== object.spec.databaseServiceName) await removeService(deps, object, old?.spec.databaseServiceName);
  return object;
}

function statusFrom(object: DatabaseObject, snapshot: Snapshot, service: ServiceStatus): DatabaseStatus {
  const generation = Number(object.metadata.generation ?? 1);
  const previous = object.status?.conditions;
  const live = snapshot.databases.get(object.spec.name);
  const plan = planDatabase(object.spec, snapshot);
  const contents = live && !('error' in live.contents) ? live.contents : undefined;
  const ready = live !== undefined && plan.statements.length === 0 && plan.pending.length === 0 && !service.drift;
  const [reason, message] = becauseOf(
    ready,
    !live
      ? ['NotCreated', `database "${object.spec.name}" does not exist`]
      : plan.pending.length > 0
        ? ['Pending', plan.pending.join('; ')]
        : plan.statements.length > 0
          ? ['Drift', `${plan.drift.length} difference(s) between the spec and the catalog`]
          : service.drift
            ? [service.drift.reason, service.drift.message]
            : ['Ready', `database "${object.spec.name}" exists as specified`],
    object.status?.lastWriteError,
  );
  return {
    conditions: [condition('Ready', ready, reason, message, generation, previous)],
    exists: live !== undefined,
    ...(live
      ? {
          owner: live.owner,
          ...(live.sizeBytes !== null ? { sizeBytes: live.sizeBytes } : {}),
          ...(live.connections !== null ? { connections: live.connections } : {}),
        }
      : {}),
    ...(contents
      ? { schemas: desiredSchemas(object.spec).filter((s) => contents.schemas.has(s)), extensions: [...contents.extensions.keys()].sort() }
      : {}),
    ...(service.name ? { serviceName: service.name } : {}),
    drift: [...plan.drift],
    ...keptRecord(object.status, ready),
    observedGeneration: generation,
  };
}

/** Reads share one snapshot per cluster for all the Databases on it, and one read of each namespace's Dependencies. */
function decorate(deps: Dependencies, objects: KubeObject[], warn?: (text: string) => void): Promise<KubeObject[]> {
  return decorateByCluster(deps, resources.databases, objects as DatabaseObject[], ['Ready'], warn, async (list, cluster) => {
    const snapshot = await cluster.catalog.snapshot({ roles: [], databases: list.map((o) => o.spec.name), usage: true });
    const namespaces = [...new Set(list.filter((o) => o.spec.databaseServiceName).map((o) => o.metadata.namespace ?? ''))];
    const servicesByNamespace = new Map(await Promise.all(namespaces.map(async (ns) => [ns, await deps.core.services.list(ns)] as const)));
    return liveStatusMap(list, (o) =>
      statusFrom(o, snapshot, serviceStatusOf(o, servicesByNamespace.get(o.metadata.namespace ?? '') ?? [], cluster.host)),
    );
  });
}

export function databases(deps: Dependencies): ResourceKind {
  return servedKind(database, {
    validateSpec: (o) => validateDatabaseSpec(o.spec as DatabaseSpec),
    admit: (o, old, request) => admit(deps, o as DatabaseObject, old as DatabaseObject | undefined, request),
    afterDelete: async (o) => {
      await removeService(deps, o as DatabaseObject, (o as DatabaseObject).spec.databaseServiceName);
      await releaseDatabase(deps, (o as DatabaseObject).spec);
    },
    // reclaimPolicy Delete drops the database (sessions are terminated); Retain leaves it.
    reclaim: reclaimHook(deps, (o) => {
      const { spec } = o as DatabaseObject;
      const plan = (snapshot: Snapshot) =>
        withoutRecord(planDatabaseDeletion(spec.name, snapshot), snapshot.ownershipSchema, 'database', spec.name);
      return { cluster: spec.databaseClusterRef.name, what: `database "${spec.name}"`, scope: { roles: [], databases: [spec.name] }, plan };
    }),
    decorate: (objects, warn) => decorate(deps, objects, warn),
  });
}
