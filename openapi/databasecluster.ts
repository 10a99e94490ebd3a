// The DatabaseCluster kind (API.md): a PostgreSQL server, reached through a DSN kept in a Secret. Cluster-scoped.
import { matchesPattern } from '../lib/patterns.ts';
import { conditions, durationMilliseconds, identifier, identifiers, observedGeneration, objectName, selector } from './common.ts';
import { ageColumn, conditionCell, defineKind, nameColumn } from './kind.ts';
import type { TypedObject } from './objects.ts';
import { array, boolean, integer, object, text, type Static } from './schema.ts';
import type { FieldError } from './fields.ts';

// Below a second, passes would follow each other with no pause; above a day, Node's timers overflow (24.8 days).
const resyncBounds = { min: '1s', max: '24h' } as const;
const [minResyncMs, maxResyncMs] = [durationMilliseconds(resyncBounds.min), durationMilliseconds(resyncBounds.max)];

const spec = object(
  'How to reach the PostgreSQL server, who may use it, and how the reconciler treats drift.',
  {
    connection: object(
      'The Secret holding the DSN (postgres://user:password@host:port/dbname?sslmode=...).',
      {
        name: objectName('The name of the Secret.'),
        namespace: text('The namespace of the Secret.', { minLength: 1, maxLength: 63 }),
        key: text('The key of the DSN in the Secret.', { minLength: 1, maxLength: 253, default: 'connection' }),
      },
      ['name', 'namespace'],
    ),
    allowedNamespaces: object('The namespaces whose Databases and DatabaseRoles may use this cluster; absent: all namespaces.', {
      from: text('All: every namespace; Selector: the namespaces matching selector.', { enum: ['All', 'Selector'], default: 'All' }),
      selector: selector('The labels of the allowed namespaces, with from: Selector.'),
    }),
    driftPolicy: text(
      'What the reconciler does with drift: Correct changes the catalog back to the spec; Report only shows it in status.',
      {
        enum: ['Correct', 'Report'],
        default: 'Correct',
      },
    ),
    grantableRoles: array(
      'Roles that DatabaseRoles may list in memberOf although no DatabaseRole of their namespace manages them: a shared read-only group, or pg_monitor for a monitoring user. Never granted, even when listed: superusers, roles with REPLICATION or BYPASSRLS, the connecting user, pg_execute_server_program, pg_read_server_files and pg_write_server_files.',
      object(
        'A role, and the namespaces that may be granted it.',
        {
          name: identifier('The role name in PostgreSQL.'),
          namespaces: array(
            'Namespace patterns (`*` matches any run of characters, `team-*`); absent: every namespace that may use this cluster.',
            text('A namespace name or pattern.', { minLength: 1, maxLength: 63 }),
          ),
        },
        ['name'],
      ),
    ),
    allowedExtensions: identifiers(
      'Extensions Databases may create beyond the trusted ones (pg_available_extension_versions.trusted), which any Database may create.',
    ),
    adoption: array(
      "Which namespaces may adopt which roles and databases that exist and no object manages (made by hand, or before this server): without a rule that matches, claiming one is refused with 409. The server's own roles and databases (superusers, the connecting user, postgres, templates, ...) are never adopted, whatever a rule says.",
      object(
        'Names a namespace may adopt.',
        {
          namespaces: array(
            'Namespace patterns (`*` matches any run of characters).',
            text('A namespace name or pattern.', { minLength: 1, maxLength: 63 }),
          ),
          roles: array('Role name patterns.', text('A role name or pattern.', { minLength: 1, maxLength: 63 })),
          databases: array('Database name patterns.', text('A database name or pattern.', { minLength: 1, maxLength: 63 })),
          allowDelete: boolean(
            'Whether an adopted role or database may have reclaimPolicy Delete, which drops what existed before; default false (422).',
            { default: false },
          ),
        },
        ['namespaces'],
      ),
    ),
    connectionBudget: integer(
      "How many connections each replica of this server may hold to the PostgreSQL server, all databases together: requests, the reconciler, and the drift listeners of the replica that runs the cluster's loop (half of the budget at most, 20 at most). Idle connections close after 10 s, and an idle database's connections close at once when another database needs room. Databases whose listener does not fit are listed in status.pollingDatabases.",
      { minimum: 3, maximum: 200, default: 10 }, // defaultConnectionBudget
    ),
    resyncInterval: text(
      `How often the reconciler compares the spec with the live catalog, as a duration from ${resyncBounds.min} to ${resyncBounds.max} (30s, 5m, 1h); absent: the server's --resync-interval.`,
      {
        format: 'duration',
      },
    ),
  },
  ['connection'],
);

const status = object('What the server observed on its last visit to the PostgreSQL server.', {
  conditions: conditions(
    'Ready: the server is reachable and the connecting user is authorized. EventTriggers: every managed database has the event triggers that report changes at once (reason Installed), or why not (NoDatabases, NotPermitted, NotInstalled).',
  ),
  driftDetection: text(
    "How the reconciler notices drift inside the managed databases. EventTrigger: event triggers in them report GRANT, REVOKE, ALTER DEFAULT PRIVILEGES, CREATE and DROP within a second, and the resync finds the rest; Polling: the resync alone (spec.resyncInterval). Event triggers need a connecting user that is a superuser. Either way, roles' attributes and memberships and privileges on databases (and passwords, for a superuser) are compared twice a second.",
    {
      enum: ['EventTrigger', 'Polling'],
    },
  ),
  serverVersion: text('The PostgreSQL server version, e.g. "16.4".'),
  host: text('host:port from the DSN (never the password).'),
  databases: integer('How many Database objects are managed on this cluster.', { minimum: 0 }),
  connectionBudget: integer('The connections each replica may hold to the server (spec.connectionBudget, or its default).', { minimum: 0 }),
  pollingDatabases: array(
    "Managed databases with no drift listener (beyond spec.connectionBudget, or the cap of 20): their grants' drift is found at each resync; roles' attributes and database privileges still within seconds.",
    text('A database name.'),
  ),
  roles: integer('How many DatabaseRole objects are managed on this cluster.', { minimum: 0 }),
  observedGeneration,
});

export type DatabaseClusterSpec = Static<typeof spec>;
export type DatabaseClusterStatus = Static<typeof status>;
export type DatabaseCluster = TypedObject<DatabaseClusterSpec, DatabaseClusterStatus>;
/** Which namespaces may take over which roles and databases that exist and no object manages. */
export type AdoptionRule = NonNullable<DatabaseClusterSpec['adoption']>[number];
/** A role DatabaseRoles may be memberOf although no DatabaseRole of their namespace manages it. */
export type GrantableRole = NonNullable<DatabaseClusterSpec['grantableRoles']>[number];

export const databaseCluster = defineKind<DatabaseClusterSpec, DatabaseClusterStatus>({
  kind: 'DatabaseCluster',
  plural: 'databaseclusters',
  singular: 'databasecluster',
  shortNames: ['pgcluster'],
  namespaced: false,
  description:
    'DatabaseCluster registers a PostgreSQL server, reached through a DSN kept in a Kubernetes Secret, so that Databases and DatabaseRoles can be managed on it.',
  schema: { spec, status },
  columns: [
    nameColumn,
    { name: 'Host', type: 'string', priority: 0, description: 'host:port of the server.', cell: (o) => o.status?.host ?? null },
    {
      name: 'Version',
      type: 'string',
      priority: 0,
      description: 'The PostgreSQL server version.',
      cell: (o) => o.status?.serverVersion ?? null,
    },
    {
      name: 'Ready',
      type: 'string',
      priority: 0,
      description: 'Whether the server is reachable and the user authorized.',
      cell: (o) => conditionCell(o.status?.conditions, 'Ready'),
    },
    { name: 'Databases', type: 'integer', priority: 0, description: 'Managed Database objects.', cell: (o) => o.status?.databases ?? null },
    { name: 'Roles', type: 'integer', priority: 0, description: 'Managed DatabaseRole objects.', cell: (o) => o.status?.roles ?? null },
    {
      name: 'Drift-Detection',
      type: 'string',
      priority: 1,
      description: 'EventTrigger or Polling.',
      cell: (o) => o.status?.driftDetection ?? null,
    },
    ageColumn,
  ],
});

/** spec.resyncInterval within its bounds; its format is the schema's to check. */
export function validateClusterSpec(spec: DatabaseClusterSpec): FieldError[] {
  const interval = spec.resyncInterval;
  if (interval === undefined) return [];
  const ms = durationMilliseconds(interval);
  if (ms >= minResyncMs && ms <= maxResyncMs) return [];
  return [
    {
      type: 'FieldValueInvalid',
      field: 'spec.resyncInterval',
      message: `Invalid value: ${JSON.stringify(interval)}: must be from ${resyncBounds.min} to ${resyncBounds.max}`,
    },
  ];
}

/**
 * How often the cluster's objects are compared with the catalog: its spec.resyncInterval, or the server's default.
 * Kept within the bounds, for objects stored before they were checked.
 */
export function resyncIntervalMs(spec: DatabaseClusterSpec | undefined, defaultMs: number): number {
  if (spec?.resyncInterval === undefined) return defaultMs;
  return Math.min(maxResyncMs, Math.max(minResyncMs, durationMilliseconds(spec.resyncInterval)));
}

/** spec.connectionBudget, or its default for objects stored before it existed. */
export function connectionBudgetOf(spec: DatabaseClusterSpec | undefined): number {
  return spec?.connectionBudget ?? defaultConnectionBudget;
}

const defaultConnectionBudget = 10;

/** The roles of spec.grantableRoles that `namespace` may be granted. */
export function grantableRolesFor(spec: DatabaseClusterSpec, namespace: string): Set<string> {
  return new Set(
    (spec.grantableRoles ?? [])
      .filter((g) => g.namespaces === undefined || g.namespaces.some((p) => matchesPattern(p, namespace)))
      .map((g) => g.name),
  );
}
