// Catalog snapshots built by hand, for the pure planner tests: the live role, schema, database and server, each
// with what a fresh one has unless a test says otherwise.
import type { ObjectKind } from '../../storage/catalog/objectkinds.ts';
import type { Acl, LiveDatabase, LiveObject, LiveRole, LiveSchema, Snapshot } from '../../storage/catalog/snapshot.ts';

export function liveRole(name: string, attributes: Partial<LiveRole> = {}): LiveRole {
  return {
    name,
    login: true,
    inherit: true,
    createdb: false,
    superuser: false,
    replication: false,
    bypassrls: false,
    connectionLimit: -1,
    validUntil: null,
    memberOf: [],
    notInheritedFrom: [],
    touchedDatabases: [],
    password: null,
    ...attributes,
  };
}

const byKind = <T>(make: (kind: ObjectKind) => T) => ({ table: make('table'), sequence: make('sequence'), function: make('function') });

export interface SchemaParts {
  owner?: string;
  acl?: Acl;
  objects?: Partial<Record<ObjectKind, LiveObject[]>>;
  /** role → kind → privilege → keys of the objects granting it, or 'all'. */
  grants?: Record<string, Partial<Record<ObjectKind, Record<string, string[] | 'all'>>>>;
  /** creator → grantee → kind → privileges of default privileges. */
  defaults?: Record<string, Record<string, Partial<Record<ObjectKind, string[]>>>>;
}

export function liveSchema(name: string, parts: SchemaParts = {}): LiveSchema {
  const keyOf = (o: LiveObject) => (o.args === null ? o.name : `${o.name}(${o.args})`);
  return {
    name,
    owner: parts.owner ?? 'admin',
    acl: parts.acl ?? {},
    publicPrivileges: [],
    manageable: true,
    objects: byKind((kind) => new Map((parts.objects?.[kind] ?? []).map((o) => [keyOf(o), o]))),
    grants: new Map(
      Object.entries(parts.grants ?? {}).map(([role, kinds]) => [role, byKind((kind) => new Map(Object.entries(kinds[kind] ?? {})))]),
    ),
    defaults: new Map(
      Object.entries(parts.defaults ?? {}).map(([creator, grantees]) => [
        creator,
        new Map(Object.entries(grantees).map(([grantee, kinds]) => [grantee, byKind((kind) => kinds[kind] ?? [])])),
      ]),
    ),
  };
}

export function liveDatabase(name: string, parts: { acl?: Acl; schemas?: LiveSchema[] } = {}): LiveDatabase {
  return {
    name,
    owner: 'admin',
    encoding: 'UTF8',
    collate: 'C',
    ctype: 'C',
    connectionLimit: -1,
    allowConnections: true,
    template: false,
    sizeBytes: 0,
    connections: 0,
    acl: parts.acl ?? {},
    contents: { schemas: new Map((parts.schemas ?? [liveSchema('public')]).map((s) => [s.name, s])), extensions: new Map() },
  };
}

/** A server of `major` (17 by default) where the connecting superuser "admin" sees these roles and databases. */
export function snapshotOf(parts: { roles?: LiveRole[]; databases?: LiveDatabase[]; major?: number } = {}): Snapshot {
  const major = parts.major ?? 17;
  return {
    version: major * 10000 + 1,
    major,
    currentUser: 'admin',
    maintenanceDatabase: 'postgres',
    superuser: true,
    canReadPasswords: true,
    ownershipSchema: undefined,
    roles: new Map((parts.roles ?? []).map((r) => [r.name, r])),
    databases: new Map((parts.databases ?? []).map((d) => [d.name, d])),
  };
}
