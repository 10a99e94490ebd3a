// The object store's tables and statements, as text built once per schema. The schema name is the only
// identifier in them and it is always quoted; everything else is a parameter.
import type pg from 'pg';
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

/** `row` (a data-modifying statement) and its log entry, then the notification: see `logged` below. */
function logged(s: string, row: string): string {
  return `
      WITH changed AS (${row}),
      entry AS (
        INSERT INTO ${s}.changes (resource_version, resource, namespace, name, type, object, previous)
        VALUES ($1, $2, $3, $4, $5, $6::json, $7::json) RETURNING resource_version)
      SELECT pg_notify($8, resource_version::text) FROM entry`;
}

export function statements(schema: string) {
  const s = quoteIdent(schema);
  const key = 'resource = $1 AND namespace = $2 AND name = $3';
  // $3: namespace or null for all; $4, $5: only keys after this one, or null.
  const listFilter = 'resource = $1 AND ($3::text IS NULL OR namespace = $3) AND ($4::text IS NULL OR (namespace, name) > ($4, $5::text))';
  return Object.freeze({
    state: `SELECT resource_version, compacted_through FROM ${s}.state`,
    /** Takes the next resourceVersion and holds the write lock until the transaction ends. */
    nextResourceVersion: `UPDATE ${s}.state SET resource_version = resource_version + 1 RETURNING resource_version`,
    get: `SELECT object FROM ${s}.objects WHERE ${key}`,
    /** Objects of resource $1 whose field at `path` is one of $2: only they leave the server. */
    find: (path: readonly string[]) =>
      `SELECT object FROM ${s}.objects WHERE resource = $1 AND ${
        path.length === 2 && path[0] === 'metadata' && path[1] === 'name' ? 'name' : field(path)
      } = ANY($2) ORDER BY namespace, name`,
    /**
     * A write's row change with its entry in the change log, in one statement; the notification wakes every
     * replica's watch when the transaction commits. $1 the resourceVersion, $2–$4 the key, $5 the type, $6 the
     * object as logged, $7 the object before, $8 the channel; for an insert, $9 the uid.
     */
    logged: {
      ADDED: logged(
        s,
        `INSERT INTO ${s}.objects (resource, namespace, name, uid, resource_version, object) VALUES ($2, $3, $4, $9, $1, $6::json)`,
      ),
      MODIFIED: logged(
        s,
        `UPDATE ${s}.objects SET resource_version = $1, object = $6::json WHERE resource = $2 AND namespace = $3 AND name = $4`,
      ),
      DELETED: logged(s, `DELETE FROM ${s}.objects WHERE resource = $2 AND namespace = $3 AND name = $4`),
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
    releaseClaims: `DELETE FROM ${s}.claims WHERE uid = $1`,
  });
}
