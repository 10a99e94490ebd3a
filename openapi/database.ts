// The Database kind (API.md): a database on a DatabaseCluster, the schemas in it and, optionally, a Service.
import {
  conditions,
  databaseClusterRef,
  drift,
  identifier,
  identifiers,
  lastReconcileTime,
  lastWriteError,
  observedGeneration,
  reclaimPolicy,
} from './common.ts';
import { ageColumn, clusterColumn, conditionCell, defineKind, nameColumn } from './kind.ts';
import type { Cell, TypedObject } from './objects.ts';
import { array, boolean, fixedOnceCreated, immutable, integer, object, text, type Static } from './schema.ts';

const setting = (description: string) => text(description, { minLength: 1, maxLength: 63 });

const spec = object(
  'The database, its schemas and extensions, and how to reach it.',
  {
    name: immutable(
      identifier(
        "The name of the database in PostgreSQL. Immutable. One that exists and no object manages is refused (409) unless the DatabaseCluster's spec.adoption lets this namespace adopt it; postgres, template0, template1, other templates, the DSN's database and the object store's are never allowed (403).",
      ),
    ),
    schema: { ...identifier('The schema to ensure exists; extensions are created in it.'), default: 'public' },
    databaseClusterRef: immutable(databaseClusterRef),
    databaseServiceName: text(
      'A Service of this name in this namespace is made to resolve to the server: ExternalName for a host name, a selector-less Service with an EndpointSlice for an IP.',
      {
        maxLength: 63,
        pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$',
      },
    ),
    owner: identifier(
      "The role owning the database and its schemas: a role of a DatabaseRole in this namespace; default: the cluster's connecting user.",
    ),
    schemas: identifiers('More schemas to ensure exist.'),
    extensions: identifiers(
      "Extensions to create (CREATE EXTENSION IF NOT EXISTS) in `schema`: trusted ones, or those the DatabaseCluster's spec.allowedExtensions lists.",
    ),
    encoding: fixedOnceCreated(setting('The character set encoding, e.g. UTF8. Immutable once the database exists.')),
    lcCollate: fixedOnceCreated(setting('The collation (LC_COLLATE). Immutable once the database exists.')),
    lcCtype: fixedOnceCreated(setting('The character classification (LC_CTYPE). Immutable once the database exists.')),
    template: fixedOnceCreated(
      identifier(
        'The template database to copy: template0, template1, or a database of a Database in this namespace. Immutable once the database exists: while it was never created (a template that does not exist yet), it may change.',
      ),
    ),
    connectionLimit: integer('How many concurrent connections the database allows; -1: no limit.', { minimum: -1 }),
    reclaimPolicy,
  },
  ['name', 'databaseClusterRef'],
);

const status = object('What the live catalog holds for this database.', {
  conditions: conditions('Ready: the database exists and holds every schema and extension of the spec.'),
  exists: boolean('Whether the database exists.'),
  owner: text('The role owning the database.'),
  sizeBytes: integer('The size of the database on disk.', { format: 'int64', minimum: 0 }),
  connections: integer('Open connections to the database.', { minimum: 0 }),
  schemas: array('The schemas the database holds.', text('A schema name.')),
  extensions: array('The extensions installed in the database.', text('An extension name.')),
  serviceName: text('The Service made for this database.'),
  drift,
  lastReconcileTime,
  lastWriteError,
  observedGeneration,
});

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 8012345 -> "7.6MiB". */
function sizeCell(bytes: number | undefined): Cell {
  if (bytes === undefined) return null;
  const power = Math.min(units.length - 1, bytes < 1 ? 0 : Math.floor(Math.log(bytes) / Math.log(1024)));
  const value = bytes / 1024 ** power;
  return `${power === 0 ? value : value.toFixed(1)}${units[power]}`;
}

export type DatabaseSpec = Static<typeof spec>;
export type DatabaseStatus = Static<typeof status>;
export type Database = TypedObject<DatabaseSpec, DatabaseStatus>;

export const database = defineKind<DatabaseSpec, DatabaseStatus>({
  kind: 'Database',
  plural: 'databases',
  singular: 'database',
  shortNames: ['pgdb'],
  namespaced: true,
  description:
    'Database is a PostgreSQL database on a DatabaseCluster, with the schemas and extensions it must hold and, optionally, a Service that resolves to its server.',
  schema: { spec, status },
  columns: [
    nameColumn,
    { name: 'Database', type: 'string', priority: 0, description: 'The database name in PostgreSQL.', cell: (o) => o.spec.name },
    clusterColumn,
    {
      name: 'Size',
      type: 'string',
      priority: 0,
      description: 'The size of the database on disk.',
      cell: (o) => sizeCell(o.status?.sizeBytes),
    },
    {
      name: 'Ready',
      type: 'string',
      priority: 0,
      description: 'Whether the database holds everything the spec asks for.',
      cell: (o) => conditionCell(o.status?.conditions, 'Ready'),
    },
    ageColumn,
  ],
});
