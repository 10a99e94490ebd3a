// The DatabaseRole kind (API.md): a role on a DatabaseCluster, its password from a Secret, and its privileges per
// database, schema and object.
import {
  conditions,
  databaseClusterRef,
  drift,
  identifier,
  identifiers,
  lastReconcileTime,
  lastWriteError,
  objectName,
  observedGeneration,
  reclaimPolicy,
} from './common.ts';
import { timestamp } from './meta.ts';
import { ageColumn, clusterColumn, conditionCell, defineKind, nameColumn } from './kind.ts';
import type { TypedObject } from './objects.ts';
import { array, boolean, immutable, integer, keyedList, object, text, type Static } from './schema.ts';

/** Privilege names are checked by the catalog (per object kind and server version), case-insensitively. */
function privileges(description: string) {
  return array(description, text('A privilege name, or ALL for every privilege of the object.', { minLength: 1 }));
}

function objects(kind: string, names: string, allowed: string) {
  return keyedList(
    `Privileges on ${names} of the schema.`,
    object(
      `Privileges on one ${kind}, or on every ${kind} of the schema.`,
      {
        name: text(`The ${kind}'s name, or "*" for every ${kind} of the schema, including those created later.`, {
          minLength: 1,
          maxLength: 63,
        }),
        privileges: privileges(`${allowed} or ALL.`),
      },
      ['name', 'privileges'],
    ),
    'name',
  );
}

const permissions = (description: string) =>
  keyedList(
    description,
    object(
      'Privileges in one database.',
      {
        database: identifier('The database; it must be managed by a Database in this namespace.'),
        privileges: privileges('Database privileges: CONNECT, CREATE, TEMPORARY or ALL. Default: CONNECT.'),
        schemas: keyedList(
          'Privileges per schema.',
          object(
            'Privileges in one schema.',
            {
              name: identifier('The schema.'),
              privileges: privileges('Schema privileges: USAGE, CREATE or ALL. Default: USAGE.'),
              tables: objects(
                'table',
                'tables (and views)',
                'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN (PostgreSQL 17+)',
              ),
              sequences: objects('sequence', 'sequences', 'USAGE, SELECT, UPDATE'),
              functions: objects('function', 'functions and procedures', 'EXECUTE'),
            },
            ['name'],
          ),
          'name',
        ),
      },
      ['database'],
    ),
    'database',
  );

const spec = object(
  'The role, its password, and every privilege it holds on the databases it names.',
  {
    roleName: immutable(
      identifier(
        "The name of the role in PostgreSQL. Immutable. One that exists and no object manages is refused (409) unless the DatabaseCluster's spec.adoption lets this namespace adopt it; superusers, roles with REPLICATION or BYPASSRLS and the connecting user are never allowed (403), nor names starting with pg_ (422).",
      ),
    ),
    password: object(
      'The Secret in this namespace holding the password; absent: the role has no password and cannot log in with one.',
      {
        name: objectName('The name of the Secret.'),
        key: text('The key of the password in the Secret.', { minLength: 1, maxLength: 253, default: 'password' }),
        generate: boolean('true: when the Secret or the key is missing, create it with a random password. Default: false.'),
      },
      ['name'],
    ),
    connectionSecret: object(
      'A Secret in this namespace this server writes for the application, with keys host, port, dbname, username, password, uri, jdbc-uri and pgpass.',
      {
        name: objectName('The name of the Secret to write.'),
        database: identifier('The database the connection details point to.'),
      },
      ['name', 'database'],
    ),
    databaseClusterRef: immutable(databaseClusterRef),
    permissions: permissions('Privileges per database; on databases this namespace manages, privileges not listed are revoked.'),
    login: boolean('Whether the role may log in. Default: true.'),
    connectionLimit: integer('How many concurrent connections the role may open; -1: no limit.', { minimum: -1 }),
    validUntil: text('When the password stops being valid, as an RFC 3339 timestamp; absent: never.', { format: 'date-time' }),
    inherit: boolean('Whether the role uses the privileges of the roles it is a member of. Default: true.'),
    createdb: boolean('Whether the role may create databases. Default: false. (superuser, replication and bypassrls are refused.)'),
    memberOf: identifiers(
      "Roles this role is a member of: roleNames of DatabaseRoles in this namespace, or roles the DatabaseCluster's spec.grantableRoles gives this namespace. Superusers, roles with REPLICATION or BYPASSRLS, the connecting user and the roles reaching the server's files or programs never (403).",
    ),
    reclaimPolicy,
  },
  ['roleName', 'databaseClusterRef'],
);

const status = object('What the live catalog holds for this role.', {
  conditions: conditions('Ready: the role exists with its password set; InSync: its live grants equal the spec.'),
  exists: boolean('Whether the role exists.'),
  login: boolean('Whether the role may log in, as the catalog says.'),
  validUntil: timestamp("When the role's password stops being valid, as the catalog says; absent: never."),
  connectionLimit: integer('How many concurrent connections the role may open, as the catalog says; -1: no limit.'),
  memberOf: identifiers('The roles this role is a member of, as the catalog says.'),
  permissions: permissions(
    'The grants that really exist on the managed databases, in the shape of spec.permissions. Per schema and kind of object, "*" shows the privileges every existing object has plus the default privileges new objects get; an object holding other privileges (a REVOKE by hand on it) is named with its own (20 at most per schema and kind: see permissionsOmitted). Objects the role owns are left out.',
  ),
  permissionsOmitted: integer('How many objects holding privileges of their own status.permissions leaves out.', { minimum: 0 }),
  drift,
  passwordSecretVersion: text('The resourceVersion of the password Secret last applied.'),
  lastReconcileTime,
  lastWriteError,
  observedGeneration,
});

export type DatabaseRoleSpec = Static<typeof spec>;
export type DatabaseRoleStatus = Static<typeof status>;
export type DatabaseRole = TypedObject<DatabaseRoleSpec, DatabaseRoleStatus>;
/** Privileges in one database. */
export type DatabasePermission = NonNullable<DatabaseRoleSpec['permissions']>[number];
/** Privileges in one schema. */
export type SchemaPermission = NonNullable<DatabasePermission['schemas']>[number];
/** Privileges on one object, or on every object of the schema ("*"). */
export type ObjectPermission = NonNullable<SchemaPermission['tables']>[number];

/** Privileges listed in permissions: per database, schema and object entry. */
function grantCount(list: DatabasePermission[]): number {
  const objects = (schema: SchemaPermission) => [...(schema.tables ?? []), ...(schema.sequences ?? []), ...(schema.functions ?? [])];
  return list.reduce(
    (sum, d) =>
      sum +
      (d.privileges?.length ?? 0) +
      (d.schemas ?? []).reduce(
        (inner, s) => inner + (s.privileges?.length ?? 0) + objects(s).reduce((n, o) => n + o.privileges.length, 0),
        0,
      ),
    0,
  );
}

export const databaseRole = defineKind<DatabaseRoleSpec, DatabaseRoleStatus>({
  kind: 'DatabaseRole',
  plural: 'databaseroles',
  singular: 'databaserole',
  shortNames: ['pgrole'],
  namespaced: true,
  description:
    'DatabaseRole is a PostgreSQL role on a DatabaseCluster: its password from a Secret and its privileges per database, schema, table, sequence and function.',
  schema: { spec, status },
  columns: [
    nameColumn,
    { name: 'Role', type: 'string', priority: 0, description: 'The role name in PostgreSQL.', cell: (o) => o.spec.roleName },
    clusterColumn,
    {
      name: 'Ready',
      type: 'string',
      priority: 0,
      description: 'Whether the role exists with its password set.',
      cell: (o) => conditionCell(o.status?.conditions, 'Ready'),
    },
    {
      name: 'In-Sync',
      type: 'string',
      priority: 0,
      description: 'Whether the live grants equal the spec.',
      cell: (o) => conditionCell(o.status?.conditions, 'InSync'),
    },
    {
      name: 'Drift',
      type: 'integer',
      priority: 0,
      description: 'How many differences the live catalog has from the spec.',
      cell: (o) => o.status?.drift?.length ?? null,
    },
    ageColumn,
    {
      name: 'Databases',
      type: 'string',
      priority: 1,
      description: 'The databases the role has privileges in.',
      cell: (o) => (o.spec.permissions ?? []).map((p) => p.database).join(',') || null,
    },
    {
      name: 'Grants',
      type: 'integer',
      priority: 1,
      description: 'How many privileges status.permissions shows, counted per database, schema and object entry.',
      cell: (o) => (o.status?.permissions ? grantCount(o.status.permissions) : null),
    },
    {
      name: 'Login',
      type: 'boolean',
      priority: 1,
      description: 'Whether the role may log in, as the catalog says.',
      cell: (o) => o.status?.login ?? null,
    },
    {
      name: 'Valid-Until',
      type: 'string',
      priority: 1,
      description: 'When the password stops being valid, as the catalog says.',
      cell: (o) => o.status?.validUntil ?? null,
    },
    {
      name: 'Member-Of',
      type: 'string',
      priority: 1,
      description: 'The roles this role is a member of, as the catalog says.',
      cell: (o) => o.status?.memberOf?.join(',') || null,
    },
  ],
});
