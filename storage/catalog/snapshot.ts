// A snapshot: everything the kinds need to know about one server, read in a fixed number of queries per
// database whatever the number of roles and objects. ACLs come as text, one per distinct ACL, and only the items
// of the roles read are kept (aclitems.ts). Arrays come as JSON: JSON.parse reads them natively, where pg's
// parser of text arrays goes character by character.
import { ownershipPresentSql, ownershipSchemaSql } from './ownership.ts';
import { byObjectKind, objectKindDescriptors, objectKinds, type ObjectKind } from './objectkinds.ts';
import { quoteLiteral } from './identifiers.ts';
import pLimit from 'p-limit';
import { aclOf, eachGrant, mergedPrivileges } from './aclitems.ts';
import { getOrAdd } from '../../lib/maps.ts';

/** The small part of pg that reading needs. */
export interface Queryable {
  query<R extends object>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface LiveRole {
  name: string;
  login: boolean;
  inherit: boolean;
  createdb: boolean;
  superuser: boolean;
  replication: boolean;
  bypassrls: boolean;
  connectionLimit: number;
  /** Seconds since the epoch; null for no expiry. */
  validUntil: number | null;
  memberOf: string[];
  /** PostgreSQL 16+: the groups whose privileges the role does not inherit (membership INHERIT FALSE). */
  notInheritedFrom: string[];
  /** Databases holding objects or privileges of the role (pg_shdepend), for DROP OWNED. */
  touchedDatabases: string[];
  /** The stored verifier: a string, null for no password, undefined when the connecting user cannot read it. */
  password?: string | null;
}

/** Privileges per role name, from an ACL, leaving out the owner (who holds everything anyway). */
export type Acl = Record<string, readonly string[]>;

export interface LiveObject {
  name: string;
  /** A function's identity arguments, as SQL (`a integer, b text`); null for tables and sequences. */
  args: string | null;
  owner: string;
}

export interface LiveSchema {
  name: string;
  owner: string;
  acl: Acl;
  /** What PUBLIC holds: every role has it. */
  publicPrivileges: readonly string[];
  /**
   * Whether the connecting user can change the schema's ACL (it has the owner's privileges). Before
   * PostgreSQL 15 a new database's public schema belongs to the bootstrap superuser, out of an admin's reach.
   */
  manageable: boolean;
  /** Objects per kind, by key: the name, or for functions the name with identity arguments (`f(a integer)`). */
  objects: Record<ObjectKind, Map<string, LiveObject>>;
  /** role → kind → privilege → keys of the objects granting it, or "all" for every object the role does not own. */
  grants: Map<string, Record<ObjectKind, Map<string, string[] | 'all'>>>;
  /** creator role → grantee role → kind → privileges on objects the creator makes later in this schema. */
  defaults: Map<string, Map<string, Record<ObjectKind, readonly string[]>>>;
}

export interface DatabaseContents {
  schemas: Map<string, LiveSchema>;
  /** extension → its schema */
  extensions: Map<string, string>;
}

export interface LiveDatabase {
  name: string;
  owner: string;
  encoding: string;
  collate: string | null;
  ctype: string | null;
  connectionLimit: number;
  allowConnections: boolean;
  /** datistemplate: its contents are not read, so that no connection of ours blocks a copy of it. */
  template: boolean;
  /** Null where it was not measured (a read without `usage`) or cannot be (no CONNECT privilege). */
  sizeBytes: number | null;
  /** Null where they were not counted (a read without `usage`). */
  connections: number | null;
  acl: Acl;
  /** What is inside, or why it could not be read (no CONNECT privilege, connections not allowed, …). */
  contents: DatabaseContents | { error: string };
}

export interface Snapshot {
  /** server_version_num, e.g. 170006 */
  version: number;
  major: number;
  currentUser: string;
  /** The database the cluster's DSN connects to; role-level statements run there. */
  maintenanceDatabase: string;
  superuser: boolean;
  /** Whether the connecting user may read pg_authid: LiveRole.password is undefined where it may not. */
  canReadPasswords: boolean;
  /** The connecting user's schema of ownership records in the DSN's database (ownership.ts); undefined while it keeps none. */
  ownershipSchema: string | undefined;
  roles: Map<string, LiveRole>;
  databases: Map<string, LiveDatabase>;
}

/** Which roles and databases a snapshot covers: the ones managed on this cluster. */
export interface SnapshotScope {
  roles: readonly string[];
  databases: readonly string[];
  /**
   * A write's narrow read: the contents of only these databases and of those where one of the roles holds a
   * privilege or owns something (pg_shdepend); the other databases show none. Without it, every database's;
   * with `none`, no database's (the roles and the databases' own privileges only).
   */
  contents?: readonly string[] | 'none';
  /**
   * Each database's size on disk and count of connections, as a Database's status shows them. Measuring a size
   * reads the directory entry of every file of the database, so reads for roles leave both out.
   */
  usage?: boolean;
}

/**
 * A read for this many roles at most (a write's) looks only at the ACLs that name them (pg_shdepend), and writes
 * out only the items that may be theirs (aclText): the grantees of other roles cost it nothing.
 */
const fewRoles = 4;

const serverQuery = `
SELECT current_setting('server_version_num')::int AS version, current_user AS "currentUser",
       current_database() AS "maintenanceDatabase",
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS "canReadPasswords",
       CASE WHEN ${ownershipPresentSql} THEN ${ownershipSchemaSql} END AS "ownershipSchema"`;

// The databases each role holds something in, from pg_shdepend, for all the roles at once: one such entry per
// object granted to it, so per-role subqueries re-sorted the same database names 20 times per role.
/**
 * The oids of the roles named in the parameter `roles` (null for a name no role has): an array, by which
 * pg_shdepend's index on roles is used. By to_regrole, not from the view pg_roles, which costs more to plan.
 */
const roleOids = (roles: string) => `ARRAY(SELECT to_regrole(quote_ident(n))::oid FROM unnest(${roles}::text[]) n)`;

const rolesQuery = `
WITH touched AS MATERIALIZED (
  SELECT t.role, array_agg(d.datname::text ORDER BY d.datname::text) AS databases
  FROM (SELECT DISTINCT s.refobjid AS role, s.dbid FROM pg_shdepend s
        WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = ANY(${roleOids('$1')})) t
  JOIN pg_database d ON d.oid = t.dbid GROUP BY t.role)
SELECT r.rolname AS name, r.rolcanlogin AS login, r.rolinherit AS inherit, r.rolcreatedb AS createdb,
       r.rolsuper AS superuser, r.rolreplication AS replication, r.rolbypassrls AS bypassrls,
       r.rolconnlimit AS "connectionLimit",
       CASE WHEN r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity' THEN NULL
            ELSE extract(epoch FROM r.rolvaliduntil)::float8 END AS "validUntil",
       -- The groups' names by pg_get_userbyid: a join with the view pg_roles costs more to plan than to run.
       to_json(ARRAY(SELECT DISTINCT pg_get_userbyid(m.roleid)::text FROM pg_auth_members m WHERE m.member = r.oid ORDER BY 1)) AS "memberOf",
       -- inherit_option exists from PostgreSQL 16; through to_jsonb the query runs on every version.
       to_json(ARRAY(SELECT pg_get_userbyid(m.roleid)::text FROM pg_auth_members m WHERE m.member = r.oid
             GROUP BY m.roleid HAVING NOT bool_or(COALESCE((to_jsonb(m) ->> 'inherit_option')::bool, true))
             ORDER BY 1)) AS "notInheritedFrom",
       to_json(COALESCE(t.databases, '{}')) AS "touchedDatabases"
FROM pg_roles r LEFT JOIN touched t ON t.role = r.oid WHERE r.rolname = ANY($1)`;

/** The server's facts and the roles, in one query: a statement less on the maintenance database's few connections. */
const serverAndRolesQuery = `
SELECT (SELECT row_to_json(s) FROM (${serverQuery}) s) AS server,
       (SELECT COALESCE(json_agg(r), '[]') FROM (${rolesQuery}) r) AS roles`;

const passwordsQuery = `SELECT rolname AS name, rolpassword AS password FROM pg_authid WHERE rolname = ANY($1)`;

/** The object's ACL names one of the roles (`roles`: the parameter that holds them), by pg_shdepend's index. */
const aclNames = (roles: string, object: { classid: string; objid: string; dbid: string }) => `EXISTS (
  SELECT 1 FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass
     AND s.refobjid = ANY(${roleOids(roles)})
     AND s.deptype = 'a' AND s.classid = ${object.classid} AND s.objid = ${object.objid} AND s.dbid = ${object.dbid})`;

const currentDatabase = '(SELECT oid FROM pg_database WHERE datname = current_database())';

/** The items of an ACL whose text holds one of the roles' names (a quote doubled, as aclitem writes it): a superset of theirs. */
const itemsNaming = (acl: string, roles: string) => `to_json(ARRAY(SELECT i::text FROM unnest(${acl}) i
  WHERE EXISTS (SELECT 1 FROM unnest(${roles}::text[]) n WHERE strpos(i::text, replace(n, '"', '""')) > 0)))`;

/** An ACL as text (aclitems.ts), in a JSON array. */
const aclText = (acl: string) => `to_json(${acl}::text[])`;

/**
 * For a few roles (the parameter `roles`), the items of an ACL that may be theirs; of an ACL that does not name
 * them (`names`: pg_shdepend says so), none, without writing out its items.
 */
const fewItems = (acl: string, roles: string, names: string) => `CASE WHEN ${names} THEN ${itemsNaming(acl, roles)} ELSE '[]'::json END`;

/**
 * The objects of this database whose ACLs name one of the roles ($1), by pg_shdepend's index of the roles: read
 * once by a statement about a database's contents, whose parts then ask `inGranted` (cheaper to plan than a lookup
 * each). OFFSET 0 keeps PostgreSQL to that index: it also read every entry of the database by the other one and
 * intersected the two, 17,600 entries among 800 roles at every write.
 */
const grantedCte = `granted AS MATERIALIZED (
  SELECT classid, objid FROM (
    SELECT classid, objid, dbid, deptype FROM pg_shdepend
    WHERE refclassid = 'pg_authid'::regclass AND refobjid = ANY(${roleOids('$1')}) OFFSET 0) s
  WHERE dbid = ${currentDatabase} AND deptype = 'a')`;

const inGranted = (classid: string, objid: string) => `(${classid}, ${objid}) IN (SELECT classid, objid FROM granted)`;

const datacl = `COALESCE(d.datacl, acldefault('d', d.datdba))`;

// $1: the databases; $2, for a few roles: the roles.
const databasesQuery = (few: boolean, usage: boolean) => `
SELECT d.datname AS name, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
       d.datcollate AS collate, d.datctype AS ctype, d.datconnlimit AS "connectionLimit",
       d.datallowconn AS "allowConnections", d.datistemplate AS template,
       ${
         usage
           ? `CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END::float8 AS "sizeBytes",
       (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid)::int AS connections,`
           : 'NULL::float8 AS "sizeBytes", NULL::int AS connections,'
       }
       ${
         few ? fewItems(datacl, '$2', aclNames('$2', { classid: `'pg_database'::regclass`, objid: 'd.oid', dbid: '0' })) : aclText(datacl)
       } AS "aclItems"
FROM pg_database d WHERE d.datname = ANY($1)`;

const userSchemas = `n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'`;

const nspacl = `COALESCE(n.nspacl, acldefault('n', n.nspowner))`;

/** What PUBLIC holds on the schema, asked of PostgreSQL, which finds it without writing out the ACL. */
const publicPrivileges = `to_json(array_remove(ARRAY[${['CREATE', 'USAGE']
  .map((p) => `CASE WHEN has_schema_privilege('public', n.oid, '${p}') THEN '${p}' END`)
  .join(', ')}], NULL))`;

// $1, for a few roles: the roles (as in every query of a database's contents), with the granted CTE beside.
const schemasQuery = (few: boolean) => `
SELECT n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner,
       ${few ? fewItems(nspacl, '$1', inGranted(`'pg_namespace'::regclass`, 'n.oid')) : aclText(nspacl)} AS "aclItems",
       ${publicPrivileges} AS "publicPrivileges",
       pg_has_role(n.nspowner, 'USAGE') AS manageable
FROM pg_namespace n WHERE ${userSchemas}`;

// The kinds of objects, as the descriptors (objectkinds.ts) say the catalog keeps them.
const relationKinds = objectKinds.flatMap((kind) => {
  const { catalog, aclLetter } = objectKindDescriptors[kind];
  return catalog === 'pg_proc' ? [] : catalog.relkinds.map((relkind) => ({ kind, relkind, aclLetter }));
});
const routineKind = objectKinds.find((kind) => objectKindDescriptors[kind].catalog === 'pg_proc')!;
const relationKind = `CASE c.relkind ${relationKinds.map((r) => `WHEN ${quoteLiteral(r.relkind)} THEN ${quoteLiteral(r.kind)}`).join(' ')} END`;
const relationAclLetter = `CASE c.relkind ${relationKinds.map((r) => `WHEN ${quoteLiteral(r.relkind)} THEN ${quoteLiteral(r.aclLetter)}`).join(' ')} END`;
const defaultAclKind = `CASE d.defaclobjtype ${objectKinds.map((kind) => `WHEN ${quoteLiteral(objectKindDescriptors[kind].defaultAclType)} THEN ${quoteLiteral(kind)}`).join(' ')} END`;
const inList = (values: readonly string[]) => values.map(quoteLiteral).join(', ');

/**
 * FirstNormalObjectId: every object made after initdb has an oid at least this (oids wrap around to it, never
 * below), and initdb makes nothing in the user schemas. Asking for it lets PostgreSQL find the user schemas'
 * relations and functions by the oid index instead of reading all of pg_class and pg_proc (3,000 functions of
 * pg_catalog) at every write.
 */
const firstNormalObjectId = 16384;

// The user schemas first: pg_get_function_identity_arguments for every function of pg_catalog would cost more
// than the rest of the read.
const objectsCte = `
WITH schemas AS (SELECT n.oid, n.nspname FROM pg_namespace n WHERE ${userSchemas}),
scoped AS (
  SELECT n.nspname AS schema, 'pg_class'::regclass AS classid, c.oid, ${relationKind} AS kind,
         c.relname::text AS key, c.relname::text AS name, NULL AS args, c.relowner AS owner,
         COALESCE(c.relacl, acldefault(${relationAclLetter}::"char", c.relowner)) AS acl
  FROM pg_class c JOIN schemas n ON n.oid = c.relnamespace
  WHERE c.oid >= ${firstNormalObjectId} AND c.relkind IN (${inList(relationKinds.map((r) => r.relkind))})
  UNION ALL
  SELECT n.nspname, 'pg_proc'::regclass, p.oid, ${quoteLiteral(routineKind)}, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
         p.proname, pg_get_function_identity_arguments(p.oid), p.proowner,
         COALESCE(p.proacl, acldefault(${quoteLiteral(objectKindDescriptors[routineKind].aclLetter)}, p.proowner))
  FROM pg_proc p JOIN schemas n ON n.oid = p.pronamespace WHERE p.oid >= ${firstNormalObjectId}
)`;

// The objects, and the objects grouped by their ACL and owner, in one query: the objects are gathered once for
// both. Each distinct ACL is written out once as text (aclitems.ts reads who holds what): tables granted alike (ON
// ALL TABLES, default privileges) share one, so 20 tables granted to 1,000 roles cost one ACL of 1,000 items, not
// 20. With each group, the count of objects of its schema and kind, and how many each owner owns: a privilege is
// held on "all" when the groups granting it hold every object the role does not own.
const groupedObjectsQuery = `${objectsCte},
totals AS (SELECT schema, kind, count(*)::int AS total FROM scoped GROUP BY 1, 2),
owned AS (
  SELECT schema, kind, json_object_agg(owner, objects) AS owned
  FROM (SELECT schema, kind, pg_get_userbyid(owner) AS owner, count(*) AS objects FROM scoped GROUP BY 1, 2, 3) o GROUP BY 1, 2),
acls AS MATERIALIZED (SELECT row_number() OVER () AS id, acl, owner FROM (SELECT DISTINCT acl, owner FROM scoped) d),
groups AS (
  SELECT g.schema, g.kind, x.id, array_agg(g.key) AS keys
  FROM scoped g JOIN acls x ON x.acl = g.acl AND x.owner = g.owner GROUP BY 1, 2, 3)
SELECT
  (SELECT COALESCE(json_agg(o), '[]') FROM (SELECT schema, kind, key, name, args, pg_get_userbyid(owner) AS owner FROM scoped) o) AS objects,
  (SELECT COALESCE(json_agg(r), '[]') FROM (
     SELECT g.schema, g.kind, to_json(g.keys) AS keys, pg_get_userbyid(x.owner) AS owner, ${aclText('x.acl')} AS items, t.total, o.owned
     FROM groups g JOIN acls x ON x.id = g.id
     JOIN totals t ON t.schema = g.schema AND t.kind = g.kind
     JOIN owned o ON o.schema = g.schema AND o.kind = g.kind) r) AS groups`;

// For a few roles ($1, a write's read): each object, with the items of its ACL that may be theirs where pg_shdepend
// says the ACL names one of them (by its index), grouped here (groupedObjects). A write's GRANT on a schema makes
// PostgreSQL plan every statement of the database again, so this read is planned at each write: it stays simple.
const fewObjectsQuery = `${objectsCte},
${grantedCte}
SELECT schema, kind, key, name, args, pg_get_userbyid(owner) AS owner,
       CASE WHEN ${inGranted('classid', 'oid')} THEN ${itemsNaming('acl', '$1')} END AS items
FROM scoped`;

type ObjectRow = { schema: string; kind: ObjectKind; key: string } & LiveObject;

/** The few roles' objects grouped as groupedObjectsQuery groups them: by schema, kind, owner and the items read. */
function groupedObjects(rows: readonly (ObjectRow & { items: string[] | null })[]): GroupRow[] {
  const totals = new Map<string, number>();
  const owned = new Map<string, Record<string, number>>();
  const groups = new Map<string, Omit<GroupRow, 'total' | 'owned'>>();
  for (const { schema, kind, key, owner, items } of rows) {
    const at = `${kind}:${schema}`;
    totals.set(at, (totals.get(at) ?? 0) + 1);
    const owners = getOrAdd(owned, at, (): Record<string, number> => ({}));
    owners[owner] = (owners[owner] ?? 0) + 1;
    if (items === null) continue;
    getOrAdd(groups, JSON.stringify([schema, kind, owner, items]), () => ({ schema, kind, owner, items, keys: [] })).keys.push(key);
  }
  return [...groups.values()].map((g) => ({
    ...g,
    total: totals.get(`${g.kind}:${g.schema}`)!,
    owned: owned.get(`${g.kind}:${g.schema}`)!,
  }));
}

const defaultsQuery = (few: boolean) => `
SELECT pg_get_userbyid(d.defaclrole) AS creator, n.nspname AS schema, ${defaultAclKind} AS kind,
       ${few ? fewItems('d.defaclacl', '$1', inGranted(`'pg_default_acl'::regclass`, 'd.oid')) : aclText('d.defaclacl')} AS items
FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
WHERE d.defaclobjtype IN (${inList(objectKinds.map((kind) => objectKindDescriptors[kind].defaultAclType))})`;

const extensionsQuery = `SELECT e.extname AS name, n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace`;

/** The queries whose text depends on how many roles are read, built once for each case. */
const queryTexts = (few: boolean) => ({
  databases: { measured: databasesQuery(few, true), unmeasured: databasesQuery(few, false) },
  schemas: schemasQuery(few),
  defaults: defaultsQuery(few),
});
const textsByCount = { few: queryTexts(true), many: queryTexts(false) };
const isFew = (roles: readonly string[]) => roles.length <= fewRoles;
const textsFor = (roles: readonly string[]) => (isFew(roles) ? textsByCount.few : textsByCount.many);

const databaseReadConcurrency = 4;

type Row<T> = T & Record<string, unknown>;

interface GroupRow {
  schema: string;
  kind: ObjectKind;
  keys: string[];
  owner: string;
  items: string[];
  total: number;
  owned: Record<string, number>;
}

/**
 * Fills each schema's grants: per role, kind and privilege, the keys of the objects granting it, or "all" when the
 * groups granting it hold every object of the kind the role does not own.
 */
function readGrants(rows: readonly GroupRow[], roles: ReadonlySet<string>, schemas: Map<string, LiveSchema>): void {
  const bySchemaAndKind = new Map<string, GroupRow[]>();
  for (const row of rows) getOrAdd(bySchemaAndKind, `${row.kind}:${row.schema}`, (): GroupRow[] => []).push(row);
  for (const groups of bySchemaAndKind.values()) {
    const { schema: name, kind, total, owned } = groups[0]!;
    const schema = schemas.get(name);
    if (!schema) continue;
    // role → privilege → the keys of each group granting it
    const held = new Map<string, Map<string, string[][]>>();
    for (const { items, owner, keys } of groups) {
      eachGrant(
        items,
        (grantee) => grantee !== owner && roles.has(grantee),
        (role, privileges) => {
          const byPrivilege = getOrAdd(held, role, () => new Map<string, string[][]>());
          for (const privilege of privileges) getOrAdd(byPrivilege, privilege, (): string[][] => []).push(keys);
        },
      );
    }
    for (const [role, byPrivilege] of held) {
      const notOwned = total - (owned[role] ?? 0);
      const grants = getOrAdd(schema.grants, role, () => byObjectKind(() => new Map<string, string[] | 'all'>()))[kind];
      for (const [privilege, keys] of byPrivilege) {
        const objects = keys.reduce((count, group) => count + group.length, 0);
        grants.set(privilege, objects === notOwned ? 'all' : keys.flat());
      }
    }
  }
}

/** A database's objects and their groups: for a few roles, grouped here (fewObjectsQuery); else by the query. */
async function objectsAndGroups(db: Queryable, roles: readonly string[]): Promise<{ objects: ObjectRow[]; groups: GroupRow[] }> {
  if (isFew(roles)) {
    const { rows } = await db.query<ObjectRow & { items: string[] | null }>(fewObjectsQuery, [roles]);
    return { objects: rows, groups: groupedObjects(rows) };
  }
  return (await db.query<{ objects: ObjectRow[]; groups: GroupRow[] }>(groupedObjectsQuery)).rows[0]!;
}

type SchemaRow = Row<Pick<LiveSchema, 'name' | 'owner' | 'manageable' | 'publicPrivileges'> & { aclItems: string[] }>;
type DefaultRow = Row<{ creator: string; schema: string; kind: ObjectKind; items: string[] }>;

/** A database's schemas, default privileges and extensions, as read. */
interface BesideObjects {
  schemas: SchemaRow[];
  defaults: DefaultRow[];
  extensions: { name: string; schema: string }[];
}

// For a few roles ($1, a write's read), the schemas, default privileges and extensions in one statement, beside
// the objects' (the longest): on the database's two connections the four statements ran two by two anyway, and
// each statement less is a round trip less in the write.
const fewBesideObjectsQuery = `
WITH ${grantedCte}
SELECT (SELECT COALESCE(json_agg(s), '[]') FROM (${textsByCount.few.schemas}) s) AS schemas,
       (SELECT COALESCE(json_agg(d), '[]') FROM (${textsByCount.few.defaults}) d) AS defaults,
       (SELECT COALESCE(json_agg(e), '[]') FROM (${extensionsQuery}) e) AS extensions`;

async function besideObjects(db: Queryable, roles: readonly string[]): Promise<BesideObjects> {
  if (isFew(roles)) return (await db.query<BesideObjects>(fewBesideObjectsQuery, [roles])).rows[0]!;
  const texts = textsByCount.many;
  const [schemas, defaults, extensions] = await Promise.all([
    db.query<SchemaRow>(texts.schemas),
    db.query<DefaultRow>(texts.defaults),
    db.query<BesideObjects['extensions'][number]>(extensionsQuery),
  ]);
  return { schemas: schemas.rows, defaults: defaults.rows, extensions: extensions.rows };
}

/**
 * Reads one database's schemas, objects and their grants, default privileges and extensions: the objects in one
 * statement, beside the rest in one more for a few roles, in three for more.
 */
export async function readDatabaseContents(db: Queryable, roles: readonly string[]): Promise<DatabaseContents> {
  const [{ objects, groups }, read] = await Promise.all([objectsAndGroups(db, roles), besideObjects(db, roles)]);
  const covered = new Set(roles);
  const schemas = new Map<string, LiveSchema>();
  for (const { aclItems, ...r } of read.schemas) {
    schemas.set(r.name, {
      ...r,
      acl: aclOf(aclItems, covered, r.owner),
      objects: byObjectKind(() => new Map()),
      grants: new Map(),
      defaults: new Map(),
    });
  }
  for (const r of objects) schemas.get(r.schema)?.objects[r.kind].set(r.key, { name: r.name, args: r.args, owner: r.owner });
  readGrants(groups, covered, schemas);
  for (const r of read.defaults) {
    const schema = schemas.get(r.schema);
    if (!schema) continue;
    const grantees = getOrAdd(schema.defaults, r.creator, () => new Map<string, Record<ObjectKind, readonly string[]>>());
    eachGrant(
      r.items,
      (grantee) => covered.has(grantee),
      (grantee, privileges) => {
        const byKind = getOrAdd(grantees, grantee, () => byObjectKind((): readonly string[] => []));
        byKind[r.kind] = mergedPrivileges(byKind[r.kind], privileges);
      },
    );
  }
  return { schemas, extensions: new Map(read.extensions.map((r) => [r.name, r.schema])) };
}

/** The databases whose contents a read needs before its roles are known: every one, or those a narrow read names. */
function namedContents(scope: SnapshotScope): (database: string) => boolean {
  if (!scope.contents) return () => true;
  if (scope.contents === 'none') return () => false;
  const named = new Set(scope.contents);
  return (database) => named.has(database);
}

/** What a database holds for roles that hold nothing in it: no privileges, and none of its schemas or extensions matter. */
function noContents(): DatabaseContents {
  return { schemas: new Map(), extensions: new Map() };
}

type DatabaseRow = Row<Omit<LiveDatabase, 'contents' | 'acl'> & { aclItems: string[] }>;

/** A database's contents, or why they cannot be read: recorded on the database, never thrown. */
async function contentsOf(
  database: (name: string) => Queryable,
  d: DatabaseRow,
  roles: readonly string[],
): Promise<LiveDatabase['contents']> {
  if (d.template) return { error: 'the database is a template: no connection is kept to it, so that copies of it can be made' };
  if (!d.allowConnections) return { error: 'the database does not allow connections' };
  try {
    return await readDatabaseContents(database(d.name), roles);
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/**
 * Reads a snapshot through `cluster` (the maintenance database) and `database(name)` (a connection to one
 * database; its failure is recorded on that database, not thrown).
 */
export async function readSnapshot(cluster: Queryable, database: (name: string) => Queryable, scope: SnapshotScope): Promise<Snapshot> {
  const roles = [...scope.roles];
  const serverAndRoles = cluster
    .query<{
      server: {
        version: number;
        currentUser: string;
        maintenanceDatabase: string;
        superuser: boolean;
        canReadPasswords: boolean;
        ownershipSchema: string | null;
      };
      roles: Omit<LiveRole, 'password'>[];
    }>(serverAndRolesQuery, [roles])
    .then(({ rows }) => rows[0]!);
  const databaseRead = cluster.query<DatabaseRow>(
    textsFor(roles).databases[scope.usage ? 'measured' : 'unmeasured'],
    isFew(roles) ? [[...scope.databases], roles] : [[...scope.databases]],
  );
  // A role created between the reads of roles and passwords is not in this snapshot: its password waits for the
  // next. Of roles that do not exist (a create's), there is no password to read.
  const passwordRead = serverAndRoles.then(({ server, roles: found }) =>
    server.canReadPasswords && found.length > 0
      ? cluster.query<{ name: string; password: string | null }>(passwordsQuery, [found.map((r) => r.name)])
      : undefined,
  );
  // Contents a read names are read at once, beside the roles; those only the roles touch, once the roles are known.
  // A few databases at a time: each read holds connections to its database.
  const contents = new Map<string, Promise<LiveDatabase['contents']>>();
  const limit = pLimit(databaseReadConcurrency);
  const readContents = (d: DatabaseRow) => getOrAdd(contents, d.name, () => limit(() => contentsOf(database, d, roles)));
  const named = namedContents(scope);
  const databasesRead = databaseRead.then(({ rows }) => {
    for (const d of rows) if (named(d.name)) void readContents(d);
    return rows;
  });
  const [{ server, roles: roleRows }, databaseRows, passwordRows] = await Promise.all([serverAndRoles, databasesRead, passwordRead]);
  const liveRoles = new Map(roleRows.map((r) => [r.name, r as LiveRole]));
  for (const r of passwordRows?.rows ?? []) {
    const role = liveRoles.get(r.name);
    if (role) role.password = r.password;
  }
  if (Array.isArray(scope.contents)) {
    const touched = new Set([...liveRoles.values()].flatMap((r) => r.touchedDatabases));
    for (const d of databaseRows) if (touched.has(d.name)) void readContents(d);
  }
  const covered = new Set(roles);
  const databases = new Map<string, LiveDatabase>();
  for (const { aclItems, ...d } of databaseRows) {
    databases.set(d.name, { ...d, acl: aclOf(aclItems, covered, d.owner), contents: (await contents.get(d.name)) ?? noContents() });
  }
  return {
    version: server.version,
    major: Math.floor(server.version / 10000),
    currentUser: server.currentUser,
    maintenanceDatabase: server.maintenanceDatabase,
    superuser: server.superuser,
    canReadPasswords: server.canReadPasswords,
    ownershipSchema: server.ownershipSchema ?? undefined,
    roles: liveRoles,
    databases,
  };
}
