// The other half of the fast path of drift detection: what event triggers never see, because it lives in the
// shared catalogs (pg_authid, pg_auth_members, pg_database): a role's attributes, password and memberships,
// and the privileges, owner and connection limit of a database. One cheap query reads all of it for the
// managed roles and databases of a cluster and answers one digest; the reconciler asks it every second and
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
  'rolvaliduntil',
];

/**
 * The digest's query: $1 the managed role names, $2 the managed database names. `passwords` reads pg_authid
 * (the stored verifiers); without, pg_roles. Each part is a JSON array in a fixed order, so a change anywhere
 * changes the text; the server hashes it, so neither the text nor a verifier ever leaves it. Memberships are
 * the managed roles' own (with their grantor and options, whatever the version has).
 */
export function fingerprintSql(passwords: boolean): string {
  const roles = passwords
    ? `SELECT oid, ${[...roleColumns, 'rolpassword'].join(', ')} FROM pg_catalog.pg_authid WHERE rolname = ANY($1)`
    : `SELECT oid, ${roleColumns.join(', ')} FROM pg_catalog.pg_roles WHERE rolname = ANY($1)`;
  return `
WITH roles AS (${roles})
SELECT encode(pg_catalog.sha256(convert_to(concat(
  (SELECT json_agg(r ORDER BY r.rolname) FROM roles r)::text,
  (SELECT json_agg(m ORDER BY m.member, m.roleid, m.grantor) FROM pg_catalog.pg_auth_members m
    WHERE m.member IN (SELECT oid FROM roles))::text,
  (SELECT json_agg(d ORDER BY d.datname) FROM (
    SELECT datname, datdba, datacl, datconnlimit, datallowconn, datistemplate
    FROM pg_catalog.pg_database WHERE datname = ANY($2)) d)::text
), 'UTF8')), 'hex') AS fingerprint`;
}

/** Whether the connecting user may read the stored password verifiers. */
export async function readsPasswords(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>(`SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS ok`);
  return rows[0]?.ok === true;
}

/** The digest of the managed roles and databases (see fingerprintSql). */
export async function readFingerprint(
  db: Queryable,
  scope: { roles: readonly string[]; databases: readonly string[] },
  passwords: boolean,
): Promise<string> {
  const { rows } = await db.query<{ fingerprint: string }>(fingerprintSql(passwords), [[...scope.roles], [...scope.databases]]);
  return rows[0]!.fingerprint;
}
