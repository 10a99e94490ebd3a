// The object store's tables and statements, as text built once per schema. The schema name is the only
// identifier in them and it is always quoted; everything else is a parameter.
import type pg from 'pg';
import type { ChangeType } from './types.ts';
import { quoteIdent, quoteLiteral } from '../catalog/identifiers.ts';

// Keys and names are compared in byte order ("C"), as kube-apiserver sorts lists, whatever the database's
// collation. Objects are `json`, not `jsonb`: it keeps the client's key order (apiVersion, kind, metadata
// first); the one query inside objects (find) reads a field as text, by an index for the paths it is used with.
function tables(s: string): string {
  return `
    -- One row: the last resourceVersion given out, and the change log's horizon (the oldest resourceVersion a
    -- watch can still start from). Writers lock this row to take the next resourceVersion, so writes commit
    -- in resourceVersion order and a rolled-back write leaves no gap.
    CREATE TABLE IF NOT EXISTS ${s}.state (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      resource_version bigint NOT NULL,
      compacted_through bigint NOT NULL
    );
    INSERT INTO ${s}.state (singleton, resource_version, compacted_through) VALUES (true, 0, 0) ON CONFLICT DO NOTHING;

    CREATE TABLE IF NOT EXISTS ${s}.objects (
      resource text COLLATE "C" NOT NULL,
      namespace text COLLATE "C" NOT NULL,
      name text COLLATE "C" NOT NULL,
      uid uuid NOT NULL,
      resource_version bigint NOT NULL,
      object json NOT NULL,
      PRIMARY KEY (resource, namespace, name)
    );

    -- previous: the object just before the change (null for ADDED), so a list can be read as of an older
    -- resourceVersion while the log still covers it.
    CREATE TABLE IF NOT EXISTS ${s}.changes (
      resource_version bigint PRIMARY KEY,
      resource text COLLATE "C" NOT NULL,
      namespace text COLLATE "C" NOT NULL,
      name text COLLATE "C" NOT NULL,
      type text NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
      object json NOT NULL,
      previous json
    );
    CREATE INDEX IF NOT EXISTS changes_by_key ON ${s}.changes (resource, namespace, name, resource_version);

    -- A role or database name on a PostgreSQL server (its system identifier) belongs to one object: claimed in
    -- the transaction that stores the object (or before its SQL first runs), released with the object.
    CREATE TABLE IF NOT EXISTS ${s}.claims (
      server text COLLATE "C" NOT NULL,
      kind text COLLATE "C" NOT NULL,
      name text COLLATE "C" NOT NULL,
      uid uuid NOT NULL,
      resource text COLLATE "C" NOT NULL,
      namespace text COLLATE "C" NOT NULL,
      object_name text COLLATE "C" NOT NULL,
      PRIMARY KEY (server, kind, name)
    );
    CREATE INDEX IF NOT EXISTS claims_by_uid ON ${s}.claims (uid);
    ${indexedPaths.map((path) => `CREATE INDEX IF NOT EXISTS ${quoteIdent(`objects_by_${path.join('_')}`)} ON ${s}.objects (resource, (${field(path)}));`).join('\n    ')}`;
}

/**
 * The fields objects are found by (store.find): the cluster an object is on, the role or database it names, the
 * object an Event is about. Each has an index, so that a write's lookups cost the same however many objects
 * there are; find by any other path reads every object of the resource.
 */
const indexedPaths = [
  ['spec', 'databaseClusterRef', 'name'],
  ['spec', 'roleName'],
  ['spec', 'name'],
  ['involvedObject', 'uid'],
] as const;

/** A field of the object as text, its path a literal: the form the indexes above are made on, and matched by. */
function field(path: readonly string[]): string {
  return `object #>> ${quoteLiteral(`{${path.map((p) => `"${p.replace(/["\\]/g, '\\$&')}"`).join(',')}}`)}`;
}

/**
 * Creates the schema and tables when missing. Replicas starting together take turns on an advisory lock, and
 * a schema that exists is not created again, so a user without CREATE on the database can use one made for it.
 */
export async function migrate(client: pg.ClientBase, schema: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('postgres-apiserver object store ' || $1))`, [schema]);
    const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (!rowCount) await client.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
    await client.query(tables(quoteIdent(schema)));
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

export type Statements = ReturnType<typeof statements>;

/**
 * The next resourceVersion (`condition`: only if the row is still the one expected) and the object as logged: its
 * JSON text around that number, $5 and $6.
 */
function nextVersion(s: string, condition = ''): string {
  return `
      next AS (UPDATE ${s}.state SET resource_version = resource_version + 1 ${condition} RETURNING resource_version),
      logged AS (SELECT resource_version, ($5 || resource_version || $6)::json AS object FROM next)`;
}

/** The change's entry in the log (with the object before it, if any), then the notification on channel $7. */
function entry(s: string, type: ChangeType): string {
  const previous = type === 'ADDED' ? 'NULL' : 'p.object';
  return `
      entry AS (
        INSERT INTO ${s}.changes (resource_version, resource, namespace, name, type, object, previous)
        SELECT l.resource_version, $1, $2, $3, '${type}', l.object, ${previous} FROM logged l${type === 'ADDED' ? '' : ', previous p'}
        RETURNING resource_version)
      SELECT resource_version, pg_notify($7, resource_version::text) FROM entry`;
}

/** The row as it is at resourceVersion $4, locked: an update or delete changes nothing if it has moved on. */
const previousRow = (s: string) => `
      previous AS (SELECT object, uid FROM ${s}.objects WHERE resource = $1 AND namespace = $2 AND name = $3 AND resource_version = $4 FOR UPDATE)`;

export function statements(schema: string) {
  const s = quoteIdent(schema);
  const key = 'resource = $1 AND namespace = $2 AND name = $3';
  // $3: namespace or null for all; $4, $5: only keys after this one, or null.
  const listFilter = 'resource = $1 AND ($3::text IS NULL OR namespace = $3) AND ($4::text IS NULL OR (namespace, name) > ($4, $5::text))';
  return Object.freeze({
    state: `SELECT resource_version, compacted_through FROM ${s}.state`,
    get: `SELECT object FROM ${s}.objects WHERE ${key}`,
    /** Objects of resource $1 whose field at `path` is one of $2: only they leave the server. */
    find: (path: readonly string[]) =>
      `SELECT object FROM ${s}.objects WHERE resource = $1 AND ${
        path.length === 2 && path[0] === 'metadata' && path[1] === 'name' ? 'name' : field(path)
      } = ANY($2) ORDER BY namespace, name`,
    /**
     * A write as one statement, a transaction of its own: the next resourceVersion (whose row lock makes writes
     * commit one at a time, in resourceVersion order), the row, its entry in the change log and the notification
     * that wakes every replica's watch. $1–$3 the key; $4 the uid of a new object, or the resourceVersion the row
     * must still have; $5 and $6 the object's JSON text before and after its resourceVersion; $7 the channel; for a
     * new object, $8–$10 the servers, kinds and names it claims (a claim held already breaks the claims' key). No
     * row comes back when the row has moved on from $4.
     */
    written: {
      ADDED: `
      WITH ${nextVersion(s)},
      inserted AS (
        INSERT INTO ${s}.objects (resource, namespace, name, uid, resource_version, object)
        SELECT $1, $2, $3, $4::uuid, resource_version, object FROM logged),
      claimed AS (
        INSERT INTO ${s}.claims (server, kind, name, uid, resource, namespace, object_name)
        SELECT c.server, c.kind, c.name, $4::uuid, $1, $2, $3 FROM unnest($8::text[], $9::text[], $10::text[]) AS c(server, kind, name)),
      ${entry(s, 'ADDED')}`,
      MODIFIED: `
      WITH ${previousRow(s)},
      ${nextVersion(s, 'WHERE EXISTS (SELECT FROM previous)')},
      updated AS (
        UPDATE ${s}.objects o SET resource_version = l.resource_version, object = l.object FROM logged l
        WHERE o.resource = $1 AND o.namespace = $2 AND o.name = $3),
      ${entry(s, 'MODIFIED')}`,
      DELETED: `
      WITH ${previousRow(s)},
      ${nextVersion(s, 'WHERE EXISTS (SELECT FROM previous)')},
      deleted AS (DELETE FROM ${s}.objects o USING logged WHERE o.resource = $1 AND o.namespace = $2 AND o.name = $3),
      released AS (DELETE FROM ${s}.claims c USING previous p, logged WHERE c.uid = p.uid),
      ${entry(s, 'DELETED')}`,
    },
    /**
     * One page of a list as of resourceVersion $2 ($6 rows at most, null for all): objects not changed since,
     * and for keys changed since, the object just before their first later change (none if that was ADDED).
     */
    listAt: `
      SELECT namespace, name, object FROM (
        SELECT namespace, name, object FROM ${s}.objects WHERE ${listFilter} AND resource_version <= $2
        UNION ALL
        SELECT namespace, name, previous FROM (
          SELECT DISTINCT ON (namespace, name) namespace, name, previous FROM ${s}.changes
           WHERE ${listFilter} AND resource_version > $2
           ORDER BY namespace, name, resource_version
        ) AS first_later_change
        WHERE previous IS NOT NULL
      ) AS at_version
      ORDER BY namespace, name
      LIMIT $6`,
    /** Changes after $1, in order; of resource $2 only unless it is null. */
    changesAfter: `
      SELECT resource_version, resource, namespace, name, type, object FROM ${s}.changes
       WHERE resource_version > $1 AND ($2::text IS NULL OR resource = $2)
       ORDER BY resource_version`,
    /** The newest change that compaction keeping $1 changes removes. */
    compactionHorizon: `SELECT resource_version FROM ${s}.changes ORDER BY resource_version DESC OFFSET $1 LIMIT 1`,
    compact: `UPDATE ${s}.state SET compacted_through = greatest(compacted_through, $1)`,
    dropChanges: `DELETE FROM ${s}.changes WHERE resource_version <= $1`,
    /** Takes a claim unless another holds it; a concurrent taker waits for this transaction to end. */
    claim: `INSERT INTO ${s}.claims (server, kind, name, uid, resource, namespace, object_name) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
    claimHolder: `SELECT uid::text, resource, namespace, object_name FROM ${s}.claims WHERE server = $1 AND kind = $2 AND name = $3`,
  });
}
