// DatabaseRole: a role on a DatabaseCluster, its password from a Secret, its privileges per database. A write
// runs its SQL before it answers; a read shows the drift between the spec and the catalog.
import { randomBytes } from 'node:crypto';
import type { DatabaseRoleSpec, DatabaseRoleStatus } from '../../openapi/databaserole.ts';
import { databaseRole } from '../../openapi/databaserole.ts';
import {
  forbiddenAttributeErrors,
  passwordsOf,
  planRole,
  planRoleDeletion,
  setsPassword,
  snapshotAfter,
  validateRoleSpec,
  type RolePlan,
  type DesiredRole,
} from '../../storage/catalog/roles.ts';
import type { LiveRole, Snapshot, SnapshotScope } from '../../storage/catalog/snapshot.ts';
import { notLive, type Admission, type WriteContext, type ResourceKind, type Written } from './resource.ts';
import { roleRefusals } from '../../storage/catalog/eligibility.ts';
import { connectionSecretDrift, writeConnectionSecret } from './connectionsecret.ts';
import { appliedMessage } from '../../storage/kubernetes/events.ts';
import { servedKind } from './kind.ts';
import {
  becauseOf,
  condition,
  decorateByCluster,
  liveStatusMap,
  isProblem,
  keptRecord,
  objectsOnCluster,
  recordWrite,
  reclaimHook,
  resources,
  warnRehearsed,
  writeFailed,
  type ResolvedCluster,
  type Dependencies,
} from './shared.ts';
import { admitToCluster, eligible, ownership, reachOf, refuse } from './tenancy.ts';
import { startedEarly } from '../../lib/promises.ts';
import { withoutRecord, withRecord, type Recording } from '../../storage/catalog/ownership.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { FieldError } from '../../openapi/fields.ts';
import { rfc3339 } from '../../lib/time.ts';
import { livePermissions } from '../../storage/catalog/grants.ts';
import { checkVerifiers } from '../../storage/catalog/scram.ts';

type RoleObject = KubeObject & { spec: DatabaseRoleSpec; status?: DatabaseRoleStatus };

/** The status.passwordSecretVersion of a role that should have no password. */
const noPassword = 'none';

/** Why the password cannot be known now: the role keeps the one it has. */
interface PasswordProblem {
  reason: 'SecretNotFound' | 'SecretKeyMissing';
  message: string;
}

interface Desired {
  desired: DesiredRole;
  /** The Secret version the password comes from, to record once applied. */
  passwordVersion: string | undefined;
  passwordProblem: PasswordProblem | undefined;
  /** Parts of the spec that cannot be applied now, and why. */
  pending: string[];
}

type SecretLookup = (namespace: string, name: string) => ReturnType<Dependencies['secrets']['read']>;

/** Which namespace manages each database, of the cluster's Database objects. */
function databaseOwners(databases: KubeObject[]): Map<string, string> {
  return new Map(databases.map((d) => [(d.spec as { name: string }).name, d.metadata.namespace ?? '']));
}

/** Tenancy: privileges only on this namespace's databases (403); memberships are eligibility.ts's to judge. */
function tenancyErrors(object: RoleObject, databases: Map<string, string>): FieldError[] {
  const namespace = object.metadata.namespace ?? '';
  return (object.spec.permissions ?? []).flatMap((p, i) => {
    const owner = databases.get(p.database);
    return owner !== undefined && owner !== namespace
      ? [
          {
            type: 'FieldValueForbidden' as const,
            field: `spec.permissions[${i}].database`,
            message: `Forbidden: database "${p.database}" is managed by a Database in namespace "${owner}"`,
          },
        ]
      : [];
  });
}

/** What no rule of the cluster can allow: the server's own roles and databases (eligibility.ts). */
async function eligibility(
  deps: Dependencies,
  object: RoleObject,
  old: RoleObject | undefined,
  cluster: ResolvedCluster,
  databaseObjects: KubeObject[],
) {
  const { roleName, memberOf = [], permissions = [] } = object.spec;
  const databases = permissions.map((p) => p.database);
  const [reach, facts] = await Promise.all([
    reachOf(deps, object, cluster.object, memberOf, databaseObjects),
    cluster.catalog.serverFacts({ roles: [roleName, ...memberOf], databases, extensions: [] }),
  ]);
  return { facts, errors: roleRefusals({ roleName, managedAlready: old?.spec.roleName === roleName, memberOf, databases }, facts, reach) };
}

async function passwordOf(
  deps: Dependencies,
  object: RoleObject,
  lookup: SecretLookup,
  create: boolean,
): Promise<{ password: string | null | undefined; version: string | undefined; problem?: PasswordProblem }> {
  const ref = object.spec.password;
  if (!ref) return { password: null, version: noPassword };
  const namespace = object.metadata.namespace ?? '';
  const key = ref.key ?? 'password';
  let secret = await lookup(namespace, ref.name);
  if (!secret && ref.generate && create) {
    const created = await deps.secrets.create(namespace, ref.name, { [key]: randomBytes(24).toString('base64url') });
    secret = (await deps.secrets.read(namespace, ref.name)) ?? { data: {}, resourceVersion: created.resourceVersion, labels: {} };
  }
  if (!secret)
    return {
      password: undefined,
      version: undefined,
      problem: { reason: 'SecretNotFound', message: `Secret ${namespace}/${ref.name} does not exist: the role keeps its password` },
    };
  const password = secret.data[key];
  if (password === undefined)
    return {
      password: undefined,
      version: undefined,
      problem: { reason: 'SecretKeyMissing', message: `Secret ${namespace}/${ref.name} has no key "${key}": the role keeps its password` },
    };
  return { password, version: secret.resourceVersion };
}

/** The spec's permissions on this namespace's databases; the others wait (pending) for their Database. */
function ownPermissions(object: RoleObject, databases: Map<string, string>): { spec: DatabaseRoleSpec; pending: string[] } {
  const namespace = object.metadata.namespace ?? '';
  const pending: string[] = [];
  const permissions = (object.spec.permissions ?? []).filter((p) => {
    const ours = databases.get(p.database) === namespace;
    if (!ours) pending.push(`database "${p.database}" is not managed by a Database in namespace "${namespace}" yet`);
    return ours;
  });
  return { spec: { ...object.spec, permissions }, pending };
}

/** The role as the catalog should hold it: this namespace's databases only, the password from its Secret. */
async function desiredOf(
  deps: Dependencies,
  object: RoleObject,
  databases: Map<string, string>,
  lookup: SecretLookup,
  create: boolean,
): Promise<Desired> {
  const { spec, pending } = ownPermissions(object, databases);
  const password = await passwordOf(deps, object, lookup, create);
  if (password.problem) pending.push(password.problem.message);
  const desired: DesiredRole = {
    spec,
    password: password.password,
    passwordApplied: password.version !== undefined && object.status?.passwordSecretVersion === password.version,
    managedDatabases: [...databases.keys()],
  };
  return { desired, passwordVersion: password.version, passwordProblem: password.problem, pending };
}

/** Tenancy and eligibility; the role name is claimed on its server, and the write runs once the object is stored. */
async function admit(deps: Dependencies, object: RoleObject, old: RoleObject | undefined, request: WriteContext): Promise<Admission> {
  // The cluster's Databases, read once, beside the cluster's checks: for tenancy, eligibility and the write. The
  // password Secret too, for the write: reads from memory begun in one turn share one read of the store's resourceVersion.
  const databasesRead = startedEarly(objectsOnCluster(deps, resources.databases, object.spec.databaseClusterRef.name));
  const secrets = readOnce(deps);
  const passwordRead = startedEarly(passwordOf(deps, object, secrets, false));
  const cluster = await admitToCluster(deps, object, old === undefined, {
    resource: resources.roles,
    keyPath: ['spec', 'roleName'],
    what: 'role name',
  });
  const databaseObjects = await databasesRead;
  const databases = databaseOwners(databaseObjects);
  refuse(object, tenancyErrors(object, databases));
  if (isProblem(cluster.resolved)) {
    request.warn(`${cluster.resolved.message}: the role is created once the cluster can be reached`);
    return { claims: [] };
  }
  const resolved = cluster.resolved;
  // The write's reads go on while eligibility is judged: they wait for nothing it decides.
  const reads = startReads(object, resolved, databases, secrets, passwordRead);
  const facts = await eligible(object, request, () => eligibility(deps, object, old, resolved, databaseObjects));
  if (!facts) return { claims: [] };
  const { roleName } = object.spec;
  const record = await ownership(deps, object, resolved.object, facts, 'role', roleName, old?.spec.roleName === roleName);
  return {
    claims: [{ server: facts.systemIdentifier, kind: 'role', name: roleName }],
    write: (stored) => write(deps, stored as RoleObject, resolved, databases, { schema: facts.ownershipSchema, record }, request, reads),
  };
}

/** A Secret lookup that reads each Secret once: the write and its status see the same version. */
function readOnce(deps: Dependencies): SecretLookup {
  const read = new Map<string, ReturnType<SecretLookup>>();
  return (namespace, name) => {
    const key = `${namespace}/${name}`;
    if (!read.has(key)) read.set(key, deps.secrets.read(namespace, name));
    return read.get(key)!;
  };
}

/**
 * What a write reads before its SQL, started early: the password Secret and the catalog as it is. The object's
 * lock (or, for a create, its unclaimed name) keeps any other write of this role from running meanwhile. A read
 * that fails fails the write that awaits it, not before. A password not applied yet (a create, a rotation) is
 * hashed meanwhile too, off the main thread: the write's transaction then does not wait for it.
 */
interface Reads {
  secrets: SecretLookup;
  snapshot: Promise<Snapshot>;
}

function startReads(
  object: RoleObject,
  cluster: ResolvedCluster,
  databases: Map<string, string>,
  secrets: SecretLookup,
  passwordRead: ReturnType<typeof passwordOf>,
): Reads {
  passwordRead
    .then(({ password, version }) => {
      if (typeof password === 'string' && version !== object.status?.passwordSecretVersion)
        return cluster.catalog.verifiers.verifierOf(object.spec.roleName, password);
    })
    .catch(() => undefined);
  const scope = scopeOf([{ spec: ownPermissions(object, databases).spec, managedDatabases: [...databases.keys()] }]);
  return { secrets, snapshot: startedEarly(cluster.catalog.snapshot(scope, { fresh: true })) };
}

/** The role's SQL and its connection Secret; a fault of the environment is a warning (Ready=False, retried), one of the object a 422 (writeFailed). */
async function write(
  deps: Dependencies,
  object: RoleObject,
  cluster: ResolvedCluster,
  databases: Map<string, string>,
  owner: Recording,
  request: WriteContext,
  reads: Reads,
): Promise<Written> {
  const { secrets } = reads;
  const { desired, passwordVersion, pending } = await desiredOf(deps, object, databases, secrets, !request.dryRun);
  for (const p of pending) request.warn(p);
  const newline = endsInNewline(object, desired.password);
  if (newline) request.advise(newline);
  let written: { object: RoleObject; planned: Snapshot; plan: RolePlan; ran: boolean };
  try {
    const snapshot = await reads.snapshot;
    const rolePlan = planRole(desired, snapshot);
    const plan = withRecord(rolePlan, owner.schema, 'role', object.spec.roleName, owner.record, snapshot.ownershipSchema);
    if (request.dryRun) {
      await cluster.catalog.rehearse(plan, passwordsOf(desired));
      warnRehearsed(request, rolePlan);
      return notLive(object);
    }
    if (plan.statements.length > 0) await cluster.catalog.applyCoalesced(plan, passwordsOf(desired));
    if (rolePlan.statements.length > 0)
      deps.events.record(object, 'Normal', 'Applied', appliedMessage(rolePlan.statements.map((s) => s.description)));
    const passwordSet = rolePlan.statements.some((s) => s.passwordOf);
    if (passwordSet && newline) deps.events.record(object, 'Warning', 'PasswordEndsInNewline', newline);
    if (passwordSet && rotationUnderWay(object, desired.password, passwordVersion)) {
      deps.events.record(
        object,
        'Normal',
        'PasswordRotated',
        `the password from Secret ${object.metadata.namespace}/${object.spec.password!.name} (resourceVersion ${passwordVersion}) is applied`,
      );
    }
    if (typeof desired.password === 'string') {
      const refused = await writeConnectionSecret(deps, object, cluster, desired.password);
      if (refused) request.warn(refused);
    }
    const applied = withPasswordVersion(object, passwordVersion);
    const ran = plan.statements.length > 0;
    written = { object: ran ? recordWrite(applied, undefined) : applied, planned: snapshot, plan: rolePlan, ran };
  } catch (error) {
    return notLive(await writeFailed(deps, object, error, request));
  }
  return withLiveStatus(deps, cluster, databases, secrets, desired, written);
}

/**
 * The written object with the status the answer shows: from the read that planned, as the plan left the catalog
 * (snapshotAfter) when it ran. A connection Secret just written holds the current details: no drift there.
 */
async function withLiveStatus(
  deps: Dependencies,
  cluster: ResolvedCluster,
  databases: Map<string, string>,
  secrets: SecretLookup,
  desired: DesiredRole,
  written: { object: RoleObject; planned: Snapshot; plan: RolePlan; ran: boolean },
): Promise<Written> {
  const { object, planned, plan, ran } = written;
  const { password, spec } = desired;
  const verifier =
    setsPassword(plan, spec.roleName) && typeof password === 'string'
      ? await cluster.catalog.verifiers.verifierOf(spec.roleName, password)
      : undefined;
  const after = ran ? snapshotAfter(desired, planned, plan, verifier) : planned;
  const shown = await desiredOf(deps, object, databases, secrets, false);
  return { object: { ...object, status: statusFrom(object, shown, after) }, statusIsLive: true };
}

/**
 * A password Secret's value ending in a newline (`kubectl create secret --from-file` keeps the file's) is the
 * password as it is, as everywhere in Kubernetes; the person who made it most likely did not mean it.
 */
function endsInNewline(object: RoleObject, password: DesiredRole['password']): string | undefined {
  if (typeof password !== 'string' || !/[\r\n]$/.test(password)) return undefined;
  const ref = object.spec.password!;
  return `the password in Secret ${object.metadata.namespace}/${ref.name} (key "${ref.key ?? 'password'}") ends in a newline, which is part of the password as set; make the Secret with --from-literal, or from a file without the newline, if it is not meant`;
}

/** The object with the version of the password Secret just applied recorded in status. */
function withPasswordVersion(object: RoleObject, passwordVersion: string | undefined): RoleObject {
  return passwordVersion === undefined ? object : { ...object, status: { ...object.status, passwordSecretVersion: passwordVersion } };
}

/** Deleting a role that others are memberOf leaves their spec asking for it: say which. */
async function membersWarning(deps: Dependencies, object: RoleObject): Promise<string[]> {
  const { roleName, databaseClusterRef } = object.spec;
  const members = (await objectsOnCluster(deps, resources.roles, databaseClusterRef.name)).filter((o) =>
    ((o.spec as DatabaseRoleSpec).memberOf ?? []).includes(roleName),
  );
  if (members.length === 0) return [];
  const names = members.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).join(', ');
  return [
    `role "${roleName}" is in the memberOf of DatabaseRole(s) ${names}: their membership stays pending until the role exists again or they stop asking for it`,
  ];
}

/** `connectionDrift`: what the connection Secret lacks (connectionsecret.ts), fixed by writing the role again. */
function statusFrom(object: RoleObject, desired: Desired, snapshot: Snapshot, connectionDrift?: string): DatabaseRoleStatus {
  const generation = Number(object.metadata.generation ?? 1);
  const previous = object.status?.conditions;
  const fault = object.status?.lastWriteError;
  const exists = snapshot.roles.has(object.spec.roleName);
  const plan = planRole(desired.desired, snapshot);
  const passwordSet = desired.desired.password === undefined ? false : exists && !plan.drift.some((d) => d.attribute === 'password');
  // A new version of the password Secret not applied yet is a rotation under way, not drift made by hand.
  const rotating = rotationUnderWay(object, desired.desired.password, desired.passwordVersion);
  const drift = rotating ? plan.drift.filter((d) => d.attribute !== 'password') : [...plan.drift];
  const pending = [
    ...desired.pending,
    ...plan.pending,
    ...(rotating && !passwordSet ? ['the new password from its Secret is not applied yet'] : []),
  ];
  const ready = exists && passwordSet && !connectionDrift;
  const readyWhy: [string, string] = !exists
    ? ['NotCreated', `role "${object.spec.roleName}" does not exist`]
    : desired.passwordProblem
      ? [desired.passwordProblem.reason, desired.passwordProblem.message]
      : !passwordSet
        ? ['PasswordNotSet', 'the password is not applied yet']
        : connectionDrift
          ? ['ConnectionSecretDrift', connectionDrift]
          : ['Ready', `role "${object.spec.roleName}" exists with its password`];
  const inSync = drift.length === 0 && pending.length === 0;
  const syncWhy: [string, string] =
    drift.length > 0
      ? ['Drift', `${drift.length} difference(s) between the spec and the catalog`]
      : pending.length > 0
        ? ['Pending', pending.join('; ')]
        : ['InSync', 'the catalog matches the spec'];
  return {
    ...(object.status?.passwordSecretVersion ? { passwordSecretVersion: object.status.passwordSecretVersion } : {}),
    conditions: [
      condition('Ready', ready, ...becauseOf(ready, readyWhy, fault), generation, previous),
      condition('InSync', inSync, ...becauseOf(inSync, syncWhy, fault), generation, previous),
    ],
    exists,
    ...liveAttributes(snapshot.roles.get(object.spec.roleName)),
    ...liveGrants(object.spec.roleName, exists, desired.desired.managedDatabases, snapshot),
    drift,
    ...keptRecord(object.status, ready && inSync),
    observedGeneration: generation,
  };
}

/** Whether the password Secret has a version the role has not been given yet, after an earlier one was. */
function rotationUnderWay(object: RoleObject, password: DesiredRole['password'], version: string | undefined): boolean {
  const applied = object.status?.passwordSecretVersion;
  return typeof password === 'string' && applied !== undefined && applied !== noPassword && applied !== version;
}

/** The role's grants as the catalog holds them (grants.ts). */
function liveGrants(role: string, exists: boolean, databases: readonly string[], snapshot: Snapshot): Partial<DatabaseRoleStatus> {
  if (!exists) return {};
  const { permissions, omitted } = livePermissions(role, databases, snapshot);
  return { permissions, ...(omitted > 0 ? { permissionsOmitted: omitted } : {}) };
}

/** The role's attributes as the catalog holds them: what LOGIN, VALID-UNTIL and MEMBER-OF show. */
function liveAttributes(role: LiveRole | undefined): Partial<DatabaseRoleStatus> {
  if (!role) return {};
  return {
    login: role.login,
    ...(role.validUntil !== null && Number.isFinite(role.validUntil) ? { validUntil: rfc3339(new Date(role.validUntil * 1000)) } : {}),
    connectionLimit: role.connectionLimit,
    memberOf: [...role.memberOf].sort(),
  };
}

/**
 * What the roles' plans and statuses read: every managed database's privileges, and the contents of those their
 * spec names or they hold something in (the others cannot hold privileges of theirs).
 */
function scopeOf(roles: readonly Pick<DesiredRole, 'spec' | 'managedDatabases'>[]): SnapshotScope {
  return {
    roles: roles.map((r) => r.spec.roleName),
    databases: [...new Set(roles.flatMap((r) => r.managedDatabases))],
    contents: [...new Set(roles.flatMap((r) => (r.spec.permissions ?? []).map((p) => p.database)))],
  };
}

/** Each role's password from its Secret and the verifier the catalog holds, where there are both. */
function passwordsToCheck(list: readonly RoleObject[], desired: readonly Desired[], snapshot: Snapshot): [string, string][] {
  return list.flatMap((o, i) => {
    const password = desired[i]!.desired.password;
    const verifier = snapshot.roles.get(o.spec.roleName)?.password;
    return typeof password === 'string' && typeof verifier === 'string' ? [[password, verifier] as [string, string]] : [];
  });
}

/** Reads share one snapshot per cluster for all the DatabaseRoles on it; passwords are checked off the main thread. */
function decorate(deps: Dependencies, objects: KubeObject[], warn?: (text: string) => void): Promise<KubeObject[]> {
  return decorateByCluster(deps, resources.roles, objects as RoleObject[], ['Ready', 'InSync'], warn, async (list, cluster) => {
    // One read of the cluster's Databases and, per namespace, of the Secrets the roles name.
    const owners = databaseOwners(await objectsOnCluster(deps, resources.databases, cluster.object.metadata.name));
    const secrets = new Map(
      await Promise.all(
        [...new Set(list.map((o) => o.metadata.namespace ?? ''))].map(async (ns) => {
          const names = list
            .filter((o) => (o.metadata.namespace ?? '') === ns)
            .flatMap((o) => [o.spec.password?.name, o.spec.connectionSecret?.name])
            .filter((n) => n !== undefined);
          return [ns, await deps.secrets.readNamed(ns, [...new Set(names)])] as const;
        }),
      ),
    );
    const lookup: SecretLookup = async (ns, secret) => secrets.get(ns)?.get(secret);
    const desired = await Promise.all(list.map((o) => desiredOf(deps, o, owners, lookup, false)));
    const snapshot = await cluster.catalog.snapshot(scopeOf(desired.map((d) => d.desired)));
    await checkVerifiers(passwordsToCheck(list, desired, snapshot));
    return liveStatusMap(list, (o, i) => {
      const { password } = desired[i]!.desired;
      const connection =
        o.spec.connectionSecret && typeof password === 'string'
          ? connectionSecretDrift(o, cluster, password, secrets.get(o.metadata.namespace ?? '')?.get(o.spec.connectionSecret.name))
          : undefined;
      return statusFrom(o, desired[i]!, snapshot, connection);
    });
  });
}

export function databaseRoles(deps: Dependencies): ResourceKind {
  return servedKind(databaseRole, {
    forbidden: (o) => forbiddenAttributeErrors((o.spec ?? {}) as object),
    validateSpec: (o) => validateRoleSpec(o.spec as DatabaseRoleSpec),
    admit: (o, old, request) => admit(deps, o as RoleObject, old as RoleObject | undefined, request),
    deleteWarnings: (o) => membersWarning(deps, o as RoleObject),
    // reclaimPolicy Delete drops the role after reassigning and dropping what it owns; Retain leaves it.
    reclaim: reclaimHook(deps, (o) => {
      const { spec } = o as RoleObject;
      const plan = (snapshot: Snapshot) =>
        withoutRecord(planRoleDeletion(spec.roleName, snapshot), snapshot.ownershipSchema, 'role', spec.roleName);
      return {
        cluster: spec.databaseClusterRef.name,
        what: `role "${spec.roleName}"`,
        scope: { roles: [spec.roleName], databases: [] },
        plan,
      };
    }),
    decorate: (objects, warn) => decorate(deps, objects, warn),
  });
}
