// DatabaseRole in the catalog: validation of the spec, the plan that makes a role and its privileges match the
// spec, and the plan that drops it. All pure: the snapshot comes in, frozen statements go out.
import type { DatabasePermission, DatabaseRoleSpec, ObjectPermission, SchemaPermission } from '../../openapi/databaserole.ts';
import { throwIfInvalid } from './errors.ts';
import { identifierError, qualified, quoteIdent, quoteLiteral } from './identifiers.ts';
import { freezePlan, type Drift, type Plan } from './plan.ts';
import { expandPrivileges, ordered, privilegeErrors, privilegesOf, type PrivilegeTarget } from './privileges.ts';
import { verifyScram } from './scram.ts';
import type { DatabaseContents, LiveDatabase, LiveRole, LiveSchema, Snapshot } from './snapshot.ts';
import { grantStatement, statement, type Statement } from './statements.ts';
import type { FieldError } from '../../openapi/fields.ts';
import { byObjectKind, objectKindDescriptors, objectKinds, type ObjectKind } from './objectkinds.ts';
import { heldPrivileges, holdsNothing } from './grants.ts';
import { getOrAdd } from '../../lib/maps.ts';

const forbiddenAttributes = ['superuser', 'replication', 'bypassrls'] as const;

function duplicateErrors(names: unknown[], field: (i: number) => string): FieldError[] {
  const seen = new Set<unknown>();
  return names.flatMap((name, i) => {
    const duplicate = seen.has(name);
    seen.add(name);
    return duplicate
      ? [{ type: 'FieldValueDuplicate' as const, field: field(i), message: `Duplicate value: ${JSON.stringify(name)}` }]
      : [];
  });
}

function identifierErrors(value: unknown, field: string): FieldError[] {
  const error = identifierError(value, field);
  return error ? [error] : [];
}

function objectErrors(entries: ObjectPermission[], kind: ObjectKind, field: string, major: number | undefined): FieldError[] {
  return [
    ...entries.flatMap((o, i) => [
      ...(o.name === '*' ? [] : identifierErrors(o.name, `${field}[${i}].name`)),
      ...privilegeErrors(o.privileges, kind, `${field}[${i}].privileges`, major),
    ]),
    ...duplicateErrors(
      entries.map((o) => o.name),
      (i) => `${field}[${i}].name`,
    ),
  ];
}

function schemaErrors(schema: SchemaPermission, field: string, major: number | undefined): FieldError[] {
  return [
    ...identifierErrors(schema.name, `${field}.name`),
    ...(schema.privileges === undefined ? [] : privilegeErrors(schema.privileges, 'schema', `${field}.privileges`, major)),
    ...objectKinds.flatMap((kind) => {
      const list = objectKindDescriptors[kind].list;
      return objectErrors(schema[list] ?? [], kind, `${field}.${list}`, major);
    }),
  ];
}

function permissionErrors(p: DatabasePermission, field: string, major: number | undefined): FieldError[] {
  const schemas = p.schemas ?? [];
  return [
    ...identifierErrors(p.database, `${field}.database`),
    ...(p.privileges === undefined ? [] : privilegeErrors(p.privileges, 'database', `${field}.privileges`, major)),
    ...schemas.flatMap((s, i) => schemaErrors(s, `${field}.schemas[${i}]`, major)),
    ...duplicateErrors(
      schemas.map((s) => s.name),
      (i) => `${field}.schemas[${i}].name`,
    ),
  ];
}

/** A name for a role to create: PostgreSQL reserves "public", "none" and the prefix "pg_" for its own roles. */
function roleNameErrors(name: unknown, field: string): FieldError[] {
  const errors = identifierErrors(name, field);
  if (errors.length > 0) return errors;
  const lower = String(name);
  if (lower.startsWith('pg_') || lower === 'public' || lower === 'none') {
    return [
      {
        type: 'FieldValueInvalid',
        field,
        message: `Invalid value: ${JSON.stringify(name)}: PostgreSQL reserves "public", "none" and names starting with "pg_"`,
      },
    ];
  }
  return [];
}

/** A role to be a member of: a predefined pg_* role may be one, where the DatabaseCluster makes it grantable. */
function groupNameErrors(name: unknown, field: string): FieldError[] {
  const errors = identifierErrors(name, field);
  if (errors.length > 0 || (name !== 'public' && name !== 'none')) return errors;
  return [{ type: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(name)}: "public" and "none" are no roles` }];
}

/** SUPERUSER, REPLICATION and BYPASSRLS are never granted: asking for them is refused, not ignored. */
export function forbiddenAttributeErrors(spec: object): FieldError[] {
  return forbiddenAttributes
    .filter((attribute) => (spec as Record<string, unknown>)[attribute] !== undefined)
    .map((attribute) => ({
      type: 'FieldValueForbidden',
      field: `spec.${attribute}`,
      message: `Forbidden: ${attribute} roles are not managed`,
    }));
}

/** Every fault of a DatabaseRole spec; `major` also checks privileges against the server's version. */
export function validateRoleSpec(spec: DatabaseRoleSpec, major?: number): FieldError[] {
  const permissions = spec.permissions ?? [];
  const memberOf = spec.memberOf ?? [];
  const errors = [
    ...roleNameErrors(spec.roleName, 'spec.roleName'),
    ...permissions.flatMap((p, i) => permissionErrors(p, `spec.permissions[${i}]`, major)),
    ...duplicateErrors(
      permissions.map((p) => p.database),
      (i) => `spec.permissions[${i}].database`,
    ),
    ...memberOf.flatMap((m, i) => groupNameErrors(m, `spec.memberOf[${i}]`)),
    ...duplicateErrors(memberOf, (i) => `spec.memberOf[${i}]`),
  ];
  memberOf.forEach((m, i) => {
    if (m === spec.roleName)
      errors.push({
        type: 'FieldValueInvalid',
        field: `spec.memberOf[${i}]`,
        message: 'Invalid value: a role cannot be a member of itself',
      });
  });
  errors.push(...forbiddenAttributeErrors(spec));
  if (spec.connectionLimit !== undefined && !(Number.isInteger(spec.connectionLimit) && spec.connectionLimit >= -1)) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.connectionLimit',
      message: 'Invalid value: must be an integer, -1 for no limit',
    });
  }
  if (spec.validUntil !== undefined && Number.isNaN(Date.parse(spec.validUntil))) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.validUntil',
      message: `Invalid value: ${JSON.stringify(spec.validUntil)}: must be an RFC 3339 timestamp`,
    });
  }
  return errors;
}

export interface DesiredRole {
  spec: DatabaseRoleSpec;
  /**
   * The password from the Secret; null when the role should have none; undefined when it cannot be known now
   * (the Secret is missing): the role keeps whatever password it has.
   */
  password: string | null | undefined;
  /**
   * Whether this password is known to be applied already (the Secret's version was applied before). Used only
   * when the connecting user cannot read stored passwords; otherwise the stored verifier is checked.
   */
  passwordApplied: boolean;
  /** Databases managed by Database objects on this cluster: the spec is authoritative over them. */
  managedDatabases: readonly string[];
}

/** The passwords plans of these roles may set, for ServerCatalog.apply; unknown ones are left out. */
export function passwordsOf(...roles: DesiredRole[]): Map<string, string | null> {
  return new Map(roles.flatMap((r) => (r.password === undefined ? [] : [[r.spec.roleName, r.password] as const])));
}

interface Attributes {
  login: boolean;
  inherit: boolean;
  createdb: boolean;
  connectionLimit: number;
  validUntil: number | null;
}

function desiredAttributes(spec: DatabaseRoleSpec): Attributes {
  return {
    login: spec.login ?? true,
    inherit: spec.inherit ?? true,
    createdb: spec.createdb ?? false,
    connectionLimit: spec.connectionLimit ?? -1,
    validUntil: spec.validUntil === undefined ? null : Date.parse(spec.validUntil) / 1000,
  };
}

function attributeClause(name: keyof Attributes, want: Attributes): string {
  switch (name) {
    case 'login':
      return want.login ? 'LOGIN' : 'NOLOGIN';
    case 'inherit':
      return want.inherit ? 'INHERIT' : 'NOINHERIT';
    case 'createdb':
      return want.createdb ? 'CREATEDB' : 'NOCREATEDB';
    case 'connectionLimit':
      return `CONNECTION LIMIT ${want.connectionLimit}`;
    case 'validUntil':
      return `VALID UNTIL ${quoteLiteral(want.validUntil === null ? 'infinity' : new Date(want.validUntil * 1000).toISOString())}`;
  }
}

function sameAttribute(name: keyof Attributes, want: Attributes, live: LiveRole): boolean {
  if (name === 'validUntil')
    return want.validUntil === null
      ? live.validUntil === null
      : live.validUntil !== null && Math.abs(live.validUntil - want.validUntil) < 1;
  return want[name] === live[name];
}

function passwordNeedsSetting(desired: DesiredRole, live: LiveRole): boolean {
  if (desired.password === undefined) return false;
  if (live.password === undefined) return !desired.passwordApplied;
  if (desired.password === null) return live.password !== null;
  return live.password === null || !verifyScram(desired.password, live.password);
}

/** CREATE ROLE, or ALTER ROLE for the attributes and password that differ. */
function planRoleItself(desired: DesiredRole, live: LiveRole | undefined, drift: Drift[]): Statement[] {
  const name = desired.spec.roleName;
  const role = quoteIdent(name);
  const want = desiredAttributes(desired.spec);
  const attributes = Object.keys(want) as (keyof Attributes)[];
  if (!live) {
    drift.push({ kind: 'role', object: name, expected: 'present', actual: 'absent' });
    const clauses = attributes.filter((a) => a !== 'validUntil' || want.validUntil !== null).map((a) => attributeClause(a, want));
    const withPassword = typeof desired.password === 'string' ? { passwordOf: name } : {};
    return [
      statement(null, `CREATE ROLE ${role} WITH ${clauses.join(' ')}`, `creating role ${role}`, { ...withPassword, creates: 'role' }),
    ];
  }
  const clauses: string[] = [];
  for (const a of attributes) {
    if (sameAttribute(a, want, live)) continue;
    clauses.push(attributeClause(a, want));
    drift.push({ kind: 'role', object: name, attribute: a, expected: String(want[a]), actual: String(live[a]) });
  }
  for (const a of forbiddenAttributes) {
    if (!live[a]) continue;
    clauses.push(`NO${a.toUpperCase()}`);
    drift.push({ kind: 'role', object: name, attribute: a, expected: 'false', actual: 'true' });
  }
  const setPassword = passwordNeedsSetting(desired, live);
  if (setPassword)
    drift.push({
      kind: 'role',
      object: name,
      attribute: 'password',
      expected: desired.password === null ? 'none' : 'from the Secret',
      actual: 'different',
    });
  if (clauses.length === 0 && !setPassword) return [];
  const sql = clauses.length > 0 ? `ALTER ROLE ${role} WITH ${clauses.join(' ')}` : `ALTER ROLE ${role}`;
  return [statement(null, sql, `altering role ${role}`, setPassword ? { passwordOf: name } : {})];
}

/**
 * GRANT and REVOKE of group memberships. From PostgreSQL 16 each membership carries its own INHERIT option,
 * which follows the role's `inherit`; before, the role attribute alone decides.
 */
function planMemberships(desired: DesiredRole, live: LiveRole | undefined, major: number, drift: Drift[]): Statement[] {
  const name = desired.spec.roleName;
  const want = new Set(desired.spec.memberOf ?? []);
  const have = new Set(live?.memberOf ?? []);
  const inherit = desired.spec.inherit ?? true;
  const options = major >= 16 ? ` WITH INHERIT ${inherit ? 'TRUE' : 'FALSE'}` : '';
  const statements: Statement[] = [];
  const grant = (group: string) =>
    statement(
      null,
      `GRANT ${quoteIdent(group)} TO ${quoteIdent(name)}${options}`,
      `adding ${quoteIdent(name)} to role ${quoteIdent(group)}`,
    );
  for (const group of want) {
    if (!have.has(group)) {
      drift.push({ kind: 'membership', object: group, expected: 'member', actual: 'not a member' });
      statements.push(grant(group));
    } else if (major >= 16 && live!.notInheritedFrom.includes(group) === inherit) {
      drift.push({ kind: 'membership', object: group, attribute: 'inherit', expected: String(inherit), actual: String(!inherit) });
      statements.push(grant(group));
    }
  }
  for (const group of have) {
    if (want.has(group)) continue;
    drift.push({ kind: 'membership', object: group, expected: 'not a member', actual: 'member' });
    statements.push(
      statement(
        null,
        `REVOKE ${quoteIdent(group)} FROM ${quoteIdent(name)}`,
        `removing ${quoteIdent(name)} from role ${quoteIdent(group)}`,
      ),
    );
  }
  return statements;
}

type DriftPlace = Omit<Drift, 'expected' | 'actual' | 'privilege'>;

/**
 * What the role holds in one schema once its plan has run, as the plan decided it: the schema's privileges, per
 * kind of object the "*" privileges and each object's own beyond them, and the default privileges.
 */
export interface SettledSchema {
  database: string;
  schema: string;
  privileges?: ReadonlySet<string>;
  objects: Partial<Record<ObjectKind, { star: ReadonlySet<string>; named: ReadonlyMap<string, ReadonlySet<string>> }>>;
  defaults: Partial<Record<ObjectKind, { creator: string; privileges: ReadonlySet<string> }>>;
}

/** A role's plan, with what the role holds on the databases and inside them once it has run (snapshotAfter). */
export interface RolePlan extends Plan {
  readonly settled: readonly SettledSchema[];
  /** The databases' own privileges of the role, where it does not own the database. */
  readonly settledDatabases: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The GRANT and REVOKE of one target that make the role's privileges on it exactly `want`. */
class GrantBuilder {
  readonly statements: Statement[] = [];
  readonly settled: SettledSchema[] = [];
  /** The database's own privileges once the plan has run; undefined for its owner. */
  databasePrivileges: ReadonlySet<string> | undefined;

  constructor(
    private readonly database: string,
    private readonly role: string,
    private readonly drift: Drift[],
  ) {}

  /** The record of what the role holds in `schema` once the plan has run, filled in as it is planned. */
  settle(schema: string): SettledSchema {
    let entry = this.settled.find((s) => s.schema === schema);
    if (!entry) this.settled.push((entry = { database: this.database, schema, objects: {}, defaults: {} }));
    return entry;
  }

  /** Records the difference as drift; returns the privileges to grant and to revoke. */
  report(want: ReadonlySet<string>, have: ReadonlySet<string>, where: DriftPlace): { missing: string[]; extra: string[] } {
    const missing = [...want].filter((p) => !have.has(p));
    const extra = [...have].filter((p) => !want.has(p));
    for (const p of missing) this.drift.push({ ...where, privilege: p, expected: 'granted', actual: 'revoked' });
    for (const p of extra) this.drift.push({ ...where, privilege: p, expected: 'revoked', actual: 'granted' });
    return { missing, extra };
  }

  reconcile(
    target: Lazy,
    kind: PrivilegeTarget,
    want: ReadonlySet<string>,
    have: ReadonlySet<string>,
    where: DriftPlace,
    defaults?: Lazy,
  ): void {
    const { missing, extra } = this.report(want, have, where);
    this.change(target, kind, missing, extra, defaults);
  }

  /** The statements that grant `missing` and revoke `extra` on the target (their drift is reported apart). */
  change(target: Lazy, kind: PrivilegeTarget, missing: readonly string[], extra: readonly string[], defaults?: Lazy): void {
    if (missing.length === 0 && extra.length === 0) return;
    const shape = { target: text(target), grantees: [this.role], ...(defaults ? { defaults: text(defaults) } : {}) };
    if (extra.length > 0)
      this.statements.push(grantStatement(this.database, { action: 'REVOKE', privileges: ordered(extra, kind), ...shape }));
    if (missing.length > 0)
      this.statements.push(grantStatement(this.database, { action: 'GRANT', privileges: ordered(missing, kind), ...shape }));
  }
}

/** A statement's text, or what builds it only when a statement is made (most plans of a read make none). */
type Lazy = string | (() => string);

const text = (lazy: Lazy) => (typeof lazy === 'string' ? lazy : lazy());

interface SchemaContext {
  builder: GrantBuilder;
  role: string;
  database: LiveDatabase;
  schema: LiveSchema;
  major: number;
  pending: string[];
}

/** Objects lacking privileges "*" gives, named one by one in drift; the others are counted in one entry. */
const driftObjectsNamed = 20;

/** "*" privileges some objects lack: one statement for the whole schema; drift names the objects. */
function planMissingOnAll(
  { builder, schema, database }: SchemaContext,
  kind: ObjectKind,
  missingOnAll: readonly string[],
  notOwned: readonly string[],
  heldKeys: Map<string, ReadonlySet<string>>,
): void {
  const where = { kind, database: database.name, schema: schema.name };
  const lacking = notOwned.filter((key) => missingOnAll.some((p) => !heldKeys.get(p)!.has(key))).sort();
  for (const key of lacking.slice(0, driftObjectsNamed)) {
    builder.report(new Set(missingOnAll), new Set(missingOnAll.filter((p) => heldKeys.get(p)!.has(key))), { ...where, object: key });
  }
  if (lacking.length > driftObjectsNamed) {
    builder.report(new Set(missingOnAll), new Set(), { ...where, object: `* (${lacking.length - driftObjectsNamed} more)` });
  }
  builder.change(() => `${objectKindDescriptors[kind].sql.all} IN SCHEMA ${quoteIdent(schema.name)}`, kind, missingOnAll, []);
}

/** Objects of one kind in one schema: "*" privileges, the rest per object, and default privileges. */
function planObjects(ctx: SchemaContext, kind: ObjectKind, entries: readonly ObjectPermission[]): void {
  const { builder, role, schema, major } = ctx;
  if (entries.length === 0 && holdsNothing(schema, role, kind, ctx.database.owner)) return;
  const where = { kind, database: ctx.database.name, schema: schema.name };
  const star = expandPrivileges(
    entries.filter((e) => e.name === '*').flatMap((e) => e.privileges),
    kind,
    major,
  );
  const named = entries.filter((e) => e.name !== '*');
  const objects = schema.objects[kind];
  const { notOwned, heldKeys } = heldPrivileges(schema, role, kind, major);
  const settled = builder.settle(schema.name);
  const namedWants = new Map<string, ReadonlySet<string>>();
  settled.objects[kind] = { star, named: namedWants };
  for (const e of named) {
    if (![...objects.values()].some((o) => o.name === e.name))
      ctx.pending.push(`${kind} ${qualified(schema.name, e.name)} does not exist in database ${quoteIdent(ctx.database.name)}`);
  }
  // "*": every current object, by one statement for the whole schema; drift names the objects that lack some.
  // The held keys are objects the role does not own, so a privilege every one of them holds has them all.
  const missingOnAll = [...star].filter((p) => heldKeys.get(p)!.size !== notOwned.length);
  if (missingOnAll.length > 0) planMissingOnAll(ctx, kind, missingOnAll, notOwned, heldKeys);
  // Everything not covered by "*": exactly the named objects' privileges. An object no entry names that holds
  // nothing beyond "*" has nothing to do (the common case: no object is looked at).
  const beyondStar = privilegesOf(kind, major).filter((p) => !star.has(p) && heldKeys.get(p)!.size > 0);
  const looked = named.length > 0 || beyondStar.length > 0 ? notOwned : [];
  for (const key of looked) {
    const object = objects.get(key)!;
    const entries = named.filter((e) => e.name === object.name);
    const held = beyondStar.filter((p) => heldKeys.get(p)!.has(key));
    if (entries.length === 0 && held.length === 0) continue;
    const want = expandPrivileges(
      entries.flatMap((e) => e.privileges),
      kind,
      major,
    );
    const have = new Set(held);
    for (const p of star) want.delete(p);
    namedWants.set(key, want);
    const target = () =>
      `${objectKindDescriptors[kind].sql.single} ${qualified(schema.name, object.name)}${object.args === null ? '' : `(${object.args})`}`;
    builder.reconcile(target, kind, want, have, { ...where, object: key });
  }
  // Objects the database owner creates later.
  const creator = ctx.database.owner;
  if (creator === role) return;
  settled.defaults[kind] = { creator, privileges: star };
  const haveDefaults = new Set(schema.defaults.get(creator)?.get(role)?.[kind] ?? []);
  const defaults = () => `ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(creator)} IN SCHEMA ${quoteIdent(schema.name)}`;
  const defaultTarget = objectKindDescriptors[kind].sql.defaults;
  builder.reconcile(defaultTarget, kind, star, haveDefaults, { ...where, kind: 'default', object: defaultTarget }, defaults);
}

function planDatabasePrivileges(
  desired: DesiredRole,
  database: LiveDatabase,
  entry: DatabasePermission | undefined,
  snapshot: Snapshot,
  drift: Drift[],
  pending: string[],
): GrantBuilder {
  const role = desired.spec.roleName;
  const builder = new GrantBuilder(database.name, role, drift);
  const isOwner = (owner: string) => owner === role;
  if (!isOwner(database.owner)) {
    const want = expandPrivileges(entry ? (entry.privileges ?? ['CONNECT']) : [], 'database', snapshot.major);
    builder.databasePrivileges = want;
    builder.reconcile(`DATABASE ${quoteIdent(database.name)}`, 'database', want, new Set(database.acl[role] ?? []), {
      kind: 'database',
      database: database.name,
      object: database.name,
    });
  }
  if ('error' in database.contents) {
    if (entry?.schemas?.length) pending.push(`cannot read database ${quoteIdent(database.name)}: ${database.contents.error}`);
    return builder;
  }
  const schemas = database.contents.schemas;
  for (const s of entry?.schemas ?? []) {
    if (!schemas.has(s.name)) pending.push(`schema ${quoteIdent(s.name)} does not exist in database ${quoteIdent(database.name)}`);
  }
  for (const schema of [...schemas.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const spec = entry?.schemas?.find((s) => s.name === schema.name);
    if (!isOwner(schema.owner)) {
      const want = expandPrivileges(spec ? (spec.privileges ?? ['USAGE']) : [], 'schema', snapshot.major);
      const have = new Set(schema.acl[role] ?? []);
      const where = { kind: 'schema' as const, database: database.name, object: schema.name };
      if (schema.manageable) {
        builder.settle(schema.name).privileges = want;
        builder.reconcile(`SCHEMA ${quoteIdent(schema.name)}`, 'schema', want, have, where);
      } else {
        // Privileges PUBLIC holds are satisfied; anything else is reported, never attempted.
        const { missing, extra } = builder.report(new Set([...want].filter((p) => !schema.publicPrivileges.includes(p))), have, where);
        if (missing.length + extra.length > 0)
          pending.push(
            `cannot change privileges on schema ${quoteIdent(schema.name)} in database ${quoteIdent(database.name)}: it belongs to ${quoteIdent(schema.owner)}`,
          );
      }
    }
    const ctx: SchemaContext = { builder, role, database, schema, major: snapshot.major, pending };
    for (const kind of objectKinds) planObjects(ctx, kind, spec?.[objectKindDescriptors[kind].list] ?? []);
  }
  return builder;
}

/**
 * The statements that make the role match its spec, in order: the role, its memberships, then per database
 * its privileges (the spec is authoritative on every managed database and every database it names).
 */
export function planRole(desired: DesiredRole, snapshot: Snapshot): RolePlan {
  throwIfInvalid(validateRoleSpec(desired.spec, snapshot.major));
  const drift: Drift[] = [];
  const pending: string[] = [];
  const live = snapshot.roles.get(desired.spec.roleName);
  const statements = [...planRoleItself(desired, live, drift), ...planMemberships(desired, live, snapshot.major, drift)];
  const permissions = desired.spec.permissions ?? [];
  const databases = new Set([...desired.managedDatabases, ...permissions.map((p) => p.database)]);
  const settled: SettledSchema[] = [];
  const settledDatabases = new Map<string, ReadonlySet<string>>();
  for (const name of [...databases].sort()) {
    const entry = permissions.find((p) => p.database === name);
    const database = snapshot.databases.get(name);
    if (!database) {
      if (entry) pending.push(`database ${quoteIdent(name)} does not exist yet`);
      continue;
    }
    const planned = planDatabasePrivileges(desired, database, entry, snapshot, drift, pending);
    statements.push(...planned.statements);
    settled.push(...planned.settled);
    if (planned.databasePrivileges) settledDatabases.set(name, planned.databasePrivileges);
  }
  return Object.freeze({ ...freezePlan(statements, drift, pending), settled: Object.freeze(settled), settledDatabases });
}

/**
 * The catalog once the role's plan has run, from the snapshot the plan was made on and the plan alone: a write
 * answers with it instead of reading the catalog again. The role has its spec's attributes and memberships, the
 * password the plan set (`verifier`: the one it was set with), and on each database and inside it the privileges
 * the plan settled. A change made by hand between the read and the SQL shows at the next read.
 */
export function snapshotAfter(desired: DesiredRole, before: Snapshot, plan: RolePlan, verifier: string | undefined): Snapshot {
  const role = desired.spec.roleName;
  const contents = contentsAfter(role, before, plan);
  const databases = new Map(
    [...before.databases].map(([name, database]) => {
      const privileges = plan.settledDatabases.get(name);
      const acl = privileges ? { ...database.acl, [role]: [...privileges].sort() } : database.acl;
      return [name, { ...database, acl, contents: contents.get(name) ?? database.contents }];
    }),
  );
  const roles = new Map(before.roles).set(role, roleAfter(desired, before, plan, verifier));
  return { ...before, roles, databases };
}

/** The role as its plan leaves it: every attribute and membership as specified (planRoleItself, planMemberships). */
function roleAfter(desired: DesiredRole, before: Snapshot, plan: RolePlan, verifier: string | undefined): LiveRole {
  const name = desired.spec.roleName;
  const live = before.roles.get(name);
  const memberOf = [...(desired.spec.memberOf ?? [])].sort();
  const attributes = desiredAttributes(desired.spec);
  // Memberships follow the role's inherit from PostgreSQL 16 (each is granted again where it differs).
  const notInheritedFrom = before.major >= 16 && !attributes.inherit ? memberOf : [];
  const granted = plan.statements.flatMap((s) => (s.database === null ? [] : [s.database]));
  const touchedDatabases = [...new Set([...(live?.touchedDatabases ?? []), ...granted])].sort();
  return {
    name,
    ...attributes,
    superuser: false,
    replication: false,
    bypassrls: false,
    memberOf,
    notInheritedFrom,
    touchedDatabases,
    ...passwordAfter(desired, live, plan, verifier, before.canReadPasswords),
  };
}

/** Whether the plan sets the role's password (to a verifier or to none). */
export function setsPassword(plan: Plan, role: string): boolean {
  return plan.statements.some((s) => s.passwordOf === role);
}

/** The stored verifier as the plan leaves it, as a read would show it (nothing where pg_authid cannot be read). */
function passwordAfter(
  desired: DesiredRole,
  live: LiveRole | undefined,
  plan: RolePlan,
  verifier: string | undefined,
  readable: boolean,
): Pick<LiveRole, 'password'> {
  if (!readable) return {};
  const set = setsPassword(plan, desired.spec.roleName);
  const password = set ? (desired.password === null ? null : verifier) : live ? live.password : null;
  return password === undefined ? {} : { password };
}

function contentsAfter(role: string, before: Snapshot, plan: RolePlan): Map<string, DatabaseContents> {
  const after = new Map<string, DatabaseContents>();
  for (const settled of plan.settled) {
    const read = before.databases.get(settled.database)?.contents;
    if (!read || 'error' in read) continue;
    const contents = getOrAdd(after, settled.database, () => ({ ...read, schemas: new Map(read.schemas) }));
    const schema = contents.schemas.get(settled.schema);
    if (schema) contents.schemas.set(settled.schema, schemaAfter(role, schema, settled, before.major));
  }
  return after;
}

function schemaAfter(role: string, schema: LiveSchema, settled: SettledSchema, major: number): LiveSchema {
  const grants = new Map(schema.grants);
  const held = byObjectKind((): Map<string, string[] | 'all'> => new Map());
  for (const kind of objectKinds) {
    const objects = settled.objects[kind];
    if (!objects) {
      held[kind] = schema.grants.get(role)?.[kind] ?? new Map();
      continue;
    }
    for (const p of privilegesOf(kind, major)) {
      const keys = [...objects.named].filter(([, privileges]) => privileges.has(p)).map(([key]) => key);
      if (objects.star.has(p)) held[kind].set(p, 'all');
      else if (keys.length > 0) held[kind].set(p, keys);
    }
  }
  grants.set(role, held);
  const defaults = new Map(schema.defaults);
  for (const kind of objectKinds) {
    const settledDefaults = settled.defaults[kind];
    if (!settledDefaults) continue;
    const byGrantee = new Map(defaults.get(settledDefaults.creator));
    const perKind = { ...(byGrantee.get(role) ?? byObjectKind((): string[] => [])), [kind]: [...settledDefaults.privileges].sort() };
    defaults.set(settledDefaults.creator, byGrantee.set(role, perKind));
  }
  const acl = settled.privileges ? { ...schema.acl, [role]: [...settled.privileges].sort() } : schema.acl;
  return { ...schema, acl, grants, defaults };
}

/**
 * reclaimPolicy Delete: objects the role owns go to the connecting user, its privileges go, then the role.
 * REASSIGN/DROP OWNED act on one database at a time, so they run in every database the role touched.
 */
export function planRoleDeletion(roleName: string, snapshot: Snapshot): Plan {
  const live = snapshot.roles.get(roleName);
  if (!live) return freezePlan([], [], []);
  const role = quoteIdent(roleName);
  const statements: Statement[] = [];
  // A non-superuser needs the privileges of the role to reassign and drop what it owns.
  if (!snapshot.superuser)
    statements.push(statement(null, `GRANT ${role} TO CURRENT_USER`, `taking membership of role ${role} to drop what it owns`));
  const databases = new Set([snapshot.maintenanceDatabase, ...live.touchedDatabases]);
  for (const name of databases) {
    const database = name === snapshot.maintenanceDatabase ? null : name;
    statements.push(
      statement(
        database,
        `REASSIGN OWNED BY ${role} TO CURRENT_USER`,
        `reassigning objects owned by ${role} in database ${quoteIdent(name)}`,
      ),
      statement(database, `DROP OWNED BY ${role}`, `dropping privileges of ${role} in database ${quoteIdent(name)}`),
    );
  }
  statements.push(statement(null, `DROP ROLE ${role}`, `dropping role ${role}`));
  return freezePlan(statements, [{ kind: 'role', object: roleName, expected: 'absent', actual: 'present' }], []);
}
