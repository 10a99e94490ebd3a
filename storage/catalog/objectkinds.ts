// The kinds of objects inside a schema that carry privileges, one descriptor each: its privileges per server
// version, how SQL names it, how the catalog keeps it and its default privileges, the DDL that makes one, and
// its list in a DatabaseRole's schema permission. The planner (roles.ts), the snapshot (snapshot.ts), the
// allow-lists (privileges.ts) and the event triggers (drifttrigger.ts) read these; adding a kind (types with
// USAGE, say) means a descriptor here, its list in openapi/databaserole.ts, and tests.

export type ObjectKind = 'table' | 'sequence' | 'function';

export interface ObjectKindDescriptor {
  /** The list of such objects in a schema permission: spec.permissions[].schemas[].<list>. */
  list: 'tables' | 'sequences' | 'functions';
  /** Its privileges, in the order SQL lists them. */
  privileges: readonly string[];
  /** Privileges not every supported server has: the first major version that has each. */
  since?: Readonly<Record<string, number>>;
  /** `GRANT … ON <single> "s"."x"`, `ON <all> IN SCHEMA "s"`, `ALTER DEFAULT PRIVILEGES … ON <defaults>`. */
  sql: { single: string; all: string; defaults: string };
  /** Where the catalog keeps its objects: pg_class with these relkinds, or pg_proc. */
  catalog: { relkinds: readonly string[] } | 'pg_proc';
  /** acldefault()'s letter for its objects, and pg_default_acl.defaclobjtype for its default privileges. */
  aclLetter: string;
  defaultAclType: string;
  /** The DDL command tags that make one (an event trigger on them notices a "*" grant missing on it). */
  createdBy: readonly string[];
}

export const objectKindDescriptors: Readonly<Record<ObjectKind, ObjectKindDescriptor>> = {
  table: {
    list: 'tables',
    privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN'],
    since: { MAINTAIN: 17 },
    sql: { single: 'TABLE', all: 'ALL TABLES', defaults: 'TABLES' },
    // Every relation GRANT … ON ALL TABLES covers: tables, views, materialized views, foreign and partitioned tables.
    catalog: { relkinds: ['r', 'v', 'm', 'f', 'p'] },
    aclLetter: 'r',
    defaultAclType: 'r',
    createdBy: ['CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'CREATE VIEW', 'CREATE MATERIALIZED VIEW', 'CREATE FOREIGN TABLE'],
  },
  sequence: {
    list: 'sequences',
    privileges: ['USAGE', 'SELECT', 'UPDATE'],
    sql: { single: 'SEQUENCE', all: 'ALL SEQUENCES', defaults: 'SEQUENCES' },
    catalog: { relkinds: ['S'] },
    aclLetter: 's',
    defaultAclType: 'S',
    createdBy: ['CREATE SEQUENCE'],
  },
  function: {
    list: 'functions',
    privileges: ['EXECUTE'],
    // Functions and procedures alike: ROUTINE covers both.
    sql: { single: 'ROUTINE', all: 'ALL ROUTINES', defaults: 'FUNCTIONS' },
    catalog: 'pg_proc',
    aclLetter: 'f',
    defaultAclType: 'f',
    createdBy: ['CREATE FUNCTION', 'CREATE PROCEDURE'],
  },
};

export const objectKinds = Object.keys(objectKindDescriptors) as ObjectKind[];

/** `{ table: make(), sequence: make(), function: make() }`. */
export function byObjectKind<T>(make: (kind: ObjectKind) => T): Record<ObjectKind, T> {
  return Object.fromEntries(objectKinds.map((kind) => [kind, make(kind)])) as Record<ObjectKind, T>;
}
