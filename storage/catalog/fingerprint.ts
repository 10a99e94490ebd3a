// The other half of the fast path of drift detection: what event triggers never see, because it lives in the
// shared catalogs (pg_authid, pg_auth_members, pg_database): a role's attributes, password and memberships,
// and the privileges, owner and connection limit of a database. One cheap query reads all of it for the
// managed roles and databases of a cluster and answers one digest; the reconciler asks it twice a second and
// runs a pass when the digest changes (reconcile/fingerprint.ts). It runs in the DSN's database, through the
// cluster's pool: no connection per database.
//
// Passwords are in pg_authid, which only a superuser (or a user granted SELECT on it) may read; pg_roles shows
// every other column to anyone. Without it, a password changed by hand leaves the digest as it was.
import type { Queryable } from './snapshot.ts';

/** The columns of a role the digest covers: every attribute a spec sets or forbids, and its existence. */
const roleColumns = [
  'rolname',
  'rolsuper',
  'rolinherit',
  'rolcreaterole',
  'rolcreatedb',
  'rolcanlogin',
  'rolreplication',
  'rolbypassrls',
  'rolconnlimit',
  'quote_nullable(rolvaliduntil)',
];

/** What the digest's query depends on: whether the user may read the stored verifiers, and the server's major version. */
export interface FingerprintFacts {
  passwords: boolean;
  major: number;
}

/**
 * The digest's query: $1 the managed role names, $2 the managed database names. With `passwords` it reads
 * pg_authid (the stored verifiers), else pg_roles. Each row is hashed (hashtextextended, 64 bits) and the hashes
 * summed: no sort, no large text, nothing of a verifier leaves the server. Rows are the managed roles, their
 * own memberships (with grantor and options: INHERIT and SET from PostgreSQL 16) and the managed databases
 * (their ACL hashed as an array, never turned into text). A row that appears, goes or changes changes the sum.
 */
export function fingerprintSql({ passwords, major }: FingerprintFacts): string {
  const columns = passwords ? [...roleColumns, 'quote_nullable(rolpassword)'] : roleColumns;
  const membership = ['roleid', 'member', 'grantor', 'admin_option', ...(major >= 16 ? ['inherit_option', 'set_option'] : [])];
  const hashed = (values: string) => `sum(pg_catalog.hashtextextended(concat_ws(',', ${values}), 0))`;
  return `
WITH roles AS MATERIALIZED (SELECT oid, concat_ws(',', ${columns.join(', ')}) AS line
  FROM pg_catalog.${passwords ? 'pg_authid' : 'pg_roles'} WHERE rolname = ANY($1))
SELECT concat_ws('/',
  (SELECT sum(pg_catalog.hashtextextended(line, 0)) FROM roles),
  (SELECT ${hashed(membership.join(', '))} FROM pg_catalog.pg_auth_members WHERE member IN (SELECT oid FROM roles)),
  (SELECT ${hashed('datname, datdba, datconnlimit, datallowconn, datistemplate, quote_nullable(pg_catalog.hash_array_extended(datacl, 0))')}
     FROM pg_catalog.pg_database WHERE datname = ANY($2))
) AS fingerprint`;
}

/** Whether the connecting user may read the stored password verifiers, and the server's major version. */
export async function readFingerprintFacts(db: Queryable): Promise<FingerprintFacts> {
  const { rows } = await db.query<{ passwords: boolean; version: number }>(
    `SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS passwords, current_setting('server_version_num')::int AS version`,
  );
  return { passwords: rows[0]?.passwords === true, major: Math.floor(Number(rows[0]?.version ?? 0) / 10000) };
}

/** The digest of the managed roles and databases (see fingerprintSql). */
export async function readFingerprint(
  db: Queryable,
  scope: { roles: readonly string[]; databases: readonly string[] },
  facts: FingerprintFacts,
): Promise<string> {
  const { rows } = await db.query<{ fingerprint: string }>(fingerprintSql(facts), [[...scope.roles], [...scope.databases]]);
  return rows[0]!.fingerprint;
}
