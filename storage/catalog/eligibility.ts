// What a namespace may never reach on a PostgreSQL server, whatever a DatabaseCluster says (DESIGN.md,
// "Security model"): superusers and roles with REPLICATION or BYPASSRLS, the connecting role and the roles
// whose privileges it holds, the roles that reach the server's files or programs, the bootstrap and template
// databases, the DSN's database (it holds the server's ownership records) and the object store's database.
// The facts come from one query on the server; the rules are pure and name the field they refuse.
import { ownershipPresentSql, ownershipSchemaSql, ownersQuery, recordKey, type OwnedKind, type OwnerRecord } from './ownership.ts';
import type { Queryable } from './snapshot.ts';
import type { FieldError } from '../../openapi/fields.ts';

/** Roles that reach the server's files or run programs on it: never granted, whatever the cluster lists. */
export const serverAccessRoles: ReadonlySet<string> = new Set([
  'pg_execute_server_program',
  'pg_read_server_files',
  'pg_write_server_files',
]);

/** Databases no object may claim, grant on, copy or drop: they belong to the server. */
const serverDatabases: ReadonlySet<string> = new Set(['postgres', 'template0', 'template1']);

/** The templates every Database may copy: PostgreSQL's own defaults. */
const defaultTemplates: ReadonlySet<string> = new Set(['template0', 'template1']);

export interface RoleFacts {
  superuser: boolean;
  replication: boolean;
  bypassrls: boolean;
  /** The DSN's user itself. */
  connecting: boolean;
  /** The DSN's user holds its privileges through membership (INHERIT, or SET ROLE). */
  heldByConnecting: boolean;
}

export interface ServerFacts {
  /** pg_control_system().system_identifier: the same for every DatabaseCluster that reaches this server. */
  systemIdentifier: string;
  /** The DSN's database. */
  maintenanceDatabase: string;
  /** Whether the DSN's user is a superuser (who holds the privileges of every role). */
  superuser: boolean;
  /** Of the roles asked about, those that exist. */
  roles: Map<string, RoleFacts>;
  /** Of the databases asked about, those that exist. */
  databases: Set<string>;
  /** Of the databases asked about, the templates (datistemplate). */
  templates: Set<string>;
  /** The connecting user's schema of ownership records (ownership.ts), and its records of the names asked about, by recordKey. */
  ownershipSchema: string;
  owners: Map<string, OwnerRecord>;
  /** Of the extensions asked about, those a database owner may create without a superuser (trusted). */
  trustedExtensions: Set<string>;
}

// One round trip for the server and the names asked about. SET exists as a pg_has_role mode from PostgreSQL 16;
// before, MEMBER is what lets a role SET ROLE. Extensions are looked up only when asked about: the view reads
// every extension's control files.
const factsQuery = `
SELECT (SELECT system_identifier::text FROM pg_control_system()) AS "systemIdentifier",
       current_database() AS "maintenanceDatabase",
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       ${ownershipSchemaSql} AS "ownershipSchema", ${ownershipPresentSql} AS "recordsKept",
       (SELECT coalesce(json_agg(json_build_object(
          'name', r.rolname, 'superuser', r.rolsuper, 'replication', r.rolreplication, 'bypassrls', r.rolbypassrls,
          'connecting', r.rolname = current_user,
          'heldByConnecting', pg_has_role(current_user, r.oid, 'USAGE')
            OR pg_has_role(current_user, r.oid, CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END))), '[]')
        FROM pg_roles r WHERE r.rolname = ANY($1)) AS roles,
       (SELECT coalesce(json_agg(json_build_object('name', datname, 'template', datistemplate)), '[]')
        FROM pg_database WHERE datname = ANY($2)) AS databases,
       CASE WHEN cardinality($3::text[]) = 0 THEN '[]'::json ELSE
         (SELECT coalesce(json_agg(DISTINCT name), '[]') FROM pg_available_extension_versions WHERE trusted AND name = ANY($3)) END
         AS "trustedExtensions"`;

/** The facts with the records of the names asked about, from the table of `schema`: one query. */
const factsAndRecordsQuery = (schema: string) => `${factsQuery},
       (SELECT coalesce(json_agg(o), '[]') FROM (${ownersQuery(schema)}) o) AS records`;

/** SQLSTATEs of a table of records that is gone, or that the connecting user may no longer read. */
const recordsUnreadable = new Set(['42P01', '3F000', '42501']);

const databasesQuery = `SELECT datname AS name, datistemplate AS template FROM pg_database WHERE datname = ANY($1)`;

/** Of `databases`, those that are templates: the server keeps no connection to one, nor installs triggers in one. */
export async function readTemplates(server: Queryable, databases: readonly string[]): Promise<Set<string>> {
  const { rows } = await server.query<{ name: string; template: boolean }>(databasesQuery, [[...databases]]);
  return new Set(rows.filter((r) => r.template).map((r) => r.name));
}

export interface FactsScope {
  roles: readonly string[];
  databases: readonly string[];
  extensions: readonly string[];
}

interface FactsRow {
  systemIdentifier: string;
  maintenanceDatabase: string;
  superuser: boolean;
  ownershipSchema: string;
  recordsKept: boolean;
  roles: (RoleFacts & { name: string })[];
  databases: { name: string; template: boolean }[];
  trustedExtensions: string[];
  /** The records of the names asked about, where the query read them too (factsAndRecordsQuery). */
  records?: OwnerRow[];
}

type OwnerRow = OwnerRecord & { kind: OwnedKind; name: string };

function readOwners(server: Queryable, schema: string, scope: FactsScope): Promise<OwnerRow[]> {
  return server.query<OwnerRow>(ownersQuery(schema), [[...scope.roles], [...scope.databases]]).then((r) => r.rows);
}

/**
 * The facts the rules below need, for these names only. `recordsIn`: the schema of ownership records seen
 * before, whose records come in the same query (a table since dropped, or no longer readable, fails it: the
 * facts are then read alone).
 */
export async function readServerFacts(
  server: Queryable,
  scope: FactsScope,
  recordsIn?: string,
): Promise<ServerFacts & { recordsKept: boolean }> {
  const parameters = [[...scope.roles], [...scope.databases], [...scope.extensions]];
  const factsAlone = () => server.query<FactsRow>(factsQuery, parameters);
  const { rows } = await (recordsIn === undefined
    ? factsAlone()
    : server.query<FactsRow>(factsAndRecordsQuery(recordsIn), parameters).catch((error: unknown) => {
        if (!recordsUnreadable.has((error as { code?: string }).code ?? '')) throw error;
        return factsAlone();
      }));
  const { roles, databases, trustedExtensions, records: read, ...about } = rows[0]!;
  const readHere = about.recordsKept && recordsIn === about.ownershipSchema ? read : undefined;
  const records = about.recordsKept ? (readHere ?? (await readOwners(server, about.ownershipSchema, scope))) : [];
  return {
    ...about,
    roles: new Map(roles.map(({ name, ...facts }) => [name, facts])),
    databases: new Set(databases.map((r) => r.name)),
    templates: new Set(databases.filter((r) => r.template).map((r) => r.name)),
    trustedExtensions: new Set(trustedExtensions),
    owners: new Map(records.map(({ kind, name, ...record }) => [recordKey(kind, name), record])),
  };
}

/** Where the object store lives, so that no object claims its database. */
export interface StoreLocation {
  systemIdentifier: string;
  database: string;
}

/** What the namespace of the object asking owns or was given, besides the server's facts. */
export interface Reach {
  namespace: string;
  /** Role names managed by DatabaseRoles of this namespace on this server. */
  ownRoles: ReadonlySet<string>;
  /** Database names managed by Databases of this namespace on this server. */
  ownDatabases: ReadonlySet<string>;
  /** Roles the DatabaseCluster lets this namespace be a member of (spec.grantableRoles). */
  grantableRoles: ReadonlySet<string>;
  /** Extensions the DatabaseCluster allows beyond the trusted ones (spec.allowedExtensions). */
  allowedExtensions: ReadonlySet<string>;
  store: StoreLocation | undefined;
}

function forbidden(field: string, message: string): FieldError {
  return { type: 'FieldValueForbidden', field, message: `Forbidden: ${message}` };
}

/** Why no object may have or name this role, if it is one of the server's own. */
function serverRoleReason(name: string, facts: ServerFacts): string | undefined {
  if (serverAccessRoles.has(name)) return `role "${name}" reaches the server's files or programs`;
  const role = facts.roles.get(name);
  if (!role) return undefined;
  const attribute = role.superuser ? 'SUPERUSER' : role.replication ? 'REPLICATION' : role.bypassrls ? 'BYPASSRLS' : undefined;
  if (attribute) return `role "${name}" has ${attribute}`;
  if (role.connecting) return `role "${name}" is the DatabaseCluster's connecting user`;
  return undefined;
}

/** Why no object may claim, grant on, copy or drop this database, if it is one of the server's own. */
function serverDatabaseReason(name: string, facts: ServerFacts, store: StoreLocation | undefined): string | undefined {
  if (serverDatabases.has(name)) return `database "${name}" belongs to the server`;
  if (facts.templates.has(name)) return `database "${name}" is a template`;
  if (name === facts.maintenanceDatabase) return `database "${name}" is the DatabaseCluster's connection database`;
  if (store && store.systemIdentifier === facts.systemIdentifier && store.database === name)
    return `database "${name}" holds the object store`;
  return undefined;
}

/**
 * A role the connecting user holds the privileges of (a superuser holds every role's, so for one this says
 * nothing): taking it over would hand the tenant the server's own privileges. A role this server recorded (it
 * created or adopted it) is exempt: from PostgreSQL 16, a CREATEROLE admin may hold every role it creates
 * (createrole_self_grant).
 */
function heldReason(name: string, facts: ServerFacts): string | undefined {
  if (facts.superuser || !facts.roles.get(name)?.heldByConnecting || facts.owners.has(recordKey('role', name))) return undefined;
  return `the DatabaseCluster's connecting user holds the privileges of role "${name}"`;
}

export interface RoleRequest {
  roleName: string;
  /** Whether this object already manages the role (an update): its own role is no takeover. */
  managedAlready: boolean;
  memberOf: readonly string[];
  /** Databases named in spec.permissions. */
  databases: readonly string[];
}

/** A DatabaseRole's refusals: its role, its memberships and the databases it is granted on. */
export function roleRefusals(request: RoleRequest, facts: ServerFacts, reach: Reach): FieldError[] {
  const errors: FieldError[] = [];
  const own = serverRoleReason(request.roleName, facts) ?? (request.managedAlready ? undefined : heldReason(request.roleName, facts));
  if (own) errors.push(forbidden('spec.roleName', own));
  request.memberOf.forEach((group, i) => {
    const field = `spec.memberOf[${i}]`;
    const never = serverRoleReason(group, facts);
    if (never) return errors.push(forbidden(field, never));
    if (reach.ownRoles.has(group) || reach.grantableRoles.has(group)) return;
    errors.push(
      forbidden(
        field,
        `role "${group}" is managed by no DatabaseRole in namespace "${reach.namespace}" and is not among the DatabaseCluster's spec.grantableRoles for it`,
      ),
    );
  });
  request.databases.forEach((database, i) => {
    const never = serverDatabaseReason(database, facts, reach.store);
    if (never) errors.push(forbidden(`spec.permissions[${i}].database`, never));
  });
  return errors;
}

export interface DatabaseRequest {
  name: string;
  owner: string | undefined;
  template: string | undefined;
  extensions: readonly string[];
}

/** A Database's refusals: its name, its owner, the template it copies and its extensions. */
export function databaseRefusals(request: DatabaseRequest, facts: ServerFacts, reach: Reach): FieldError[] {
  const errors: FieldError[] = [];
  const own = serverDatabaseReason(request.name, facts, reach.store);
  if (own) errors.push(forbidden('spec.name', own));
  if (request.owner !== undefined && !reach.ownRoles.has(request.owner) && !facts.roles.get(request.owner)?.connecting) {
    errors.push(forbidden('spec.owner', `role "${request.owner}" is managed by no DatabaseRole in namespace "${reach.namespace}"`));
  }
  const template = request.template;
  if (template !== undefined && !defaultTemplates.has(template) && !reach.ownDatabases.has(template)) {
    errors.push(
      forbidden(
        'spec.template',
        `database "${template}" is neither template0, template1 nor managed by a Database in namespace "${reach.namespace}"`,
      ),
    );
  }
  request.extensions.forEach((extension, i) => {
    if (facts.trustedExtensions.has(extension) || reach.allowedExtensions.has(extension)) return;
    errors.push(
      forbidden(
        `spec.extensions[${i}]`,
        `extension "${extension}" is not trusted and not among the DatabaseCluster's spec.allowedExtensions`,
      ),
    );
  });
  return errors;
}
