// Converging 500 new roles with the usage guide's permissions on a throwaway PostgreSQL 17: our catalog code
// (snapshot, planRole, applyAll) against the fastest SQL known for the same end state, sent by psql.
// The headline is without passwords (SCRAM hashing is measured separately). Last line: `ratio: <ours / reference>`.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ServerCatalog, type Passwords, type StatementLog } from '../storage/catalog/server.ts';
import { quoteIdent, quoteLiteral } from '../storage/catalog/identifiers.ts';
import { planRole, type DesiredRole } from '../storage/catalog/roles.ts';
import { desired, guideRole } from '../test/support/catalog.ts';
import { sql, startTestServer } from '../test/support/postgres.ts';
import { inDatabase, median, psqlPath, seconds, timePsql } from './support.ts';

const roleCount = 500;
const tableCount = 20;
const rounds = 5;

interface Reference {
  total: number;
}

interface Ours {
  total: number;
  snapshot: number;
  plan: number;
  /** applyAll up to its first statement inside the database: the CREATE ROLEs, one transaction each. */
  rolePhase: number;
  /** applyAll from there: the merged GRANTs in one transaction. */
  databasePhase: number;
  /** snapshot + plan once everything is in sync (the verification pass). */
  inSync: number;
}

function roleNames(prefix: string): string[] {
  return Array.from({ length: roleCount }, (_, i) => `${prefix}_${String(i + 1).padStart(4, '0')}`);
}

function passwordsFor(names: string[], withPasswords: boolean): Passwords {
  return new Map(names.map((n) => [n, withPasswords ? randomBytes(12).toString('hex') : null]));
}

/** A fresh database with the tables, and a checkpoint so that no side pays for the other's WAL. */
async function freshDatabase(dsn: string, database: string): Promise<void> {
  await sql(dsn, `CREATE DATABASE ${quoteIdent(database)}`);
  const tables = Array.from({ length: tableCount }, (_, i) => `CREATE TABLE t${i + 1} (id int);`).join('\n');
  await sql(dsn, tables, { database });
  await sql(dsn, 'CHECKPOINT');
}

async function databaseOwner(dsn: string, database: string): Promise<string> {
  const rows = await sql<{ owner: string }>(dsn, 'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', {
    params: [database],
  });
  return rows[0]!.owner;
}

/** CREATE ROLE per role, then one statement per object naming every grantee. */
function referenceSql(database: string, owner: string, passwords: Passwords): string {
  const names = [...passwords.keys()];
  const all = names.map(quoteIdent).join(', ');
  const creates = names.map((n) => {
    const password = passwords.get(n);
    return `CREATE ROLE ${quoteIdent(n)} LOGIN${password ? ` PASSWORD ${quoteLiteral(password)}` : ''};`;
  });
  return [
    ...creates,
    `GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${all};`,
    `GRANT USAGE, CREATE ON SCHEMA public TO ${all};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${all};`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(owner)} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${all};`,
    '',
  ].join('\n');
}

function desiredRoles(database: string, passwords: Passwords): DesiredRole[] {
  return [...passwords].map(([name, password]) => desired(guideRole(database, name), { password }));
}

/** Snapshot + plans of roles that should be in sync: times it, and fails unless every plan is empty. */
async function timeInSync(catalog: ServerCatalog, database: string, roles: DesiredRole[]): Promise<number> {
  const started = performance.now();
  const snapshot = await catalog.snapshot({ roles: roles.map((r) => r.spec.roleName), databases: [database] });
  const plans = roles.map((r) => planRole(r, snapshot));
  const elapsed = performance.now() - started;
  const behind = plans.flatMap((p, i) =>
    p.statements.length > 0 ? [`${roles[i]!.spec.roleName}: ${p.statements.map((s) => s.sql).join('; ')}`] : [],
  );
  if (behind.length > 0)
    throw new Error(`${behind.length} of ${roles.length} roles are not in sync in ${database}, e.g. ${behind[0]!.slice(0, 500)}`);
  return elapsed;
}

/** Independent of our snapshot code: the last role's grants, read straight from the ACLs. */
async function checkPrivileges(dsn: string, database: string, role: string): Promise<void> {
  const [row] = await sql<Record<string, boolean>>(
    dsn,
    `SELECT has_table_privilege($1, 'public.t${tableCount}', 'SELECT') AND has_table_privilege($1, 'public.t${tableCount}', 'DELETE') AS "table",
            has_schema_privilege($1, 'public', 'USAGE') AND has_schema_privilege($1, 'public', 'CREATE') AS "schema",
            EXISTS (SELECT FROM pg_database d, aclexplode(d.datacl) a
                    WHERE d.datname = current_database() AND a.grantee = to_regrole($1) AND a.privilege_type = 'CONNECT') AS "database",
            EXISTS (SELECT FROM pg_default_acl d, aclexplode(d.defaclacl) a
                    WHERE a.grantee = to_regrole($1) AND a.privilege_type = 'SELECT') AS "defaults"`,
    { database, params: [role] },
  );
  const missing = Object.entries(row!)
    .filter(([, ok]) => !ok)
    .map(([what]) => what);
  if (missing.length > 0) throw new Error(`${role} in ${database} lacks privileges on: ${missing.join(', ')}`);
}

async function runReference(dsn: string, database: string, passwords: Passwords, workDir: string): Promise<Reference> {
  await freshDatabase(dsn, database);
  const file = join(workDir, `${database}.sql`);
  writeFileSync(file, referenceSql(database, await databaseOwner(dsn, database), passwords));
  const total = await timePsql(inDatabase(dsn, database), file);
  // The same end state as ours: our planner finds nothing to do for the reference's roles.
  const catalog = new ServerCatalog(dsn);
  try {
    await timeInSync(catalog, database, desiredRoles(database, passwords));
  } finally {
    await catalog.close();
  }
  await checkPrivileges(dsn, database, [...passwords.keys()].at(-1)!);
  return { total };
}

async function runOurs(dsn: string, database: string, passwords: Passwords): Promise<Ours> {
  await freshDatabase(dsn, database);
  const roles = desiredRoles(database, passwords);
  let databasePhaseStart: number | undefined;
  // The first statement inside the database marks where applyAll moves from the CREATE ROLEs to the merged batch.
  const log: StatementLog = (e) => {
    if (e.database === database) databasePhaseStart ??= performance.now();
  };
  const catalog = new ServerCatalog(dsn, { log });
  try {
    const t0 = performance.now();
    const snapshot = await catalog.snapshot({ roles: roles.map((r) => r.spec.roleName), databases: [database] });
    const t1 = performance.now();
    const plans = roles.map((r) => planRole(r, snapshot));
    const t2 = performance.now();
    const results = await catalog.applyAll(plans, passwords);
    const t3 = performance.now();
    const failed = results.filter((r) => r !== undefined);
    if (failed.length > 0) throw new Error(`applyAll failed for ${failed.length} of ${plans.length} plans, e.g. ${failed[0]!.message}`);
    const inSync = await timeInSync(catalog, database, roles);
    await checkPrivileges(dsn, database, roles.at(-1)!.spec.roleName);
    const split = databasePhaseStart ?? t3;
    return { total: t3 - t0, snapshot: t1 - t0, plan: t2 - t1, rolePhase: split - t2, databasePhase: t3 - split, inSync };
  } finally {
    await catalog.close();
  }
}

interface Measured {
  reference: Reference[];
  ours: Ours[];
}

/** Fresh databases and role names every time; reference and ours take turns going first. */
async function measure(dsn: string, withPasswords: boolean, workDir: string): Promise<Measured> {
  const measured: Measured = { reference: [], ours: [] };
  const tag = withPasswords ? 'pw' : '';
  for (let round = 1; round <= rounds; round++) {
    const reference = async () => {
      const passwords = passwordsFor(roleNames(`ref${tag}${round}`), withPasswords);
      measured.reference.push(await runReference(dsn, `bench_ref${tag}${round}`, passwords, workDir));
    };
    const ours = async () => {
      const passwords = passwordsFor(roleNames(`app${tag}${round}`), withPasswords);
      measured.ours.push(await runOurs(dsn, `bench_app${tag}${round}`, passwords));
    };
    for (const run of round % 2 === 1 ? [reference, ours] : [ours, reference]) await run();
  }
  return measured;
}

function report(title: string, m: Measured): number {
  const ref = median(m.reference.map((r) => r.total));
  const ours = median(m.ours.map((r) => r.total));
  const part = (key: keyof Ours) => seconds(median(m.ours.map((r) => r[key])));
  const all = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(', ');
  console.log(`${title}:`);
  console.log(
    `  reference (psql -f, ${roleCount} CREATE ROLE + 4 grants): ${seconds(ref)}  [runs: ${all(m.reference.map((r) => r.total))}]`,
  );
  console.log(`  ours (snapshot + planRole + applyAll):          ${seconds(ours)}  [runs: ${all(m.ours.map((r) => r.total))}]`);
  console.log(
    `    snapshot ${part('snapshot')}, plan ${part('plan')}, applyAll: CREATE ROLE phase ${part('rolePhase')}, merged database phase ${part('databasePhase')}`,
  );
  console.log(`  in-sync check (snapshot + plan of the ${roleCount} roles right after, warm connections): ${part('inSync')}`);
  console.log(`  ours / reference: ${(ours / ref).toFixed(2)}`);
  return ours / ref;
}

async function main(): Promise<void> {
  if (!existsSync(psqlPath))
    throw new Error(`psql not found at ${psqlPath}: install the PostgreSQL client (apt-get install postgresql-client) or set PSQL`);
  const server = await startTestServer('pg17', { max_connections: '300' });
  const workDir = mkdtempSync(join(tmpdir(), 'bench-converge-'));
  let headline: Measured;
  let withPasswords: Measured;
  try {
    const [row] = await sql<{ server_version: string }>(server.superuserDsn, 'SHOW server_version');
    console.log(
      `PostgreSQL ${row!.server_version}, ${tableCount} tables, ${roleCount} roles, median of ${rounds} runs, each in a fresh database`,
    );
    headline = await measure(server.superuserDsn, false, workDir);
    withPasswords = await measure(server.superuserDsn, true, workDir);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
    await server.stop();
  }
  report(
    'with passwords (SCRAM: the server hashes for psql; ours computes verifiers in Node, and checks them when in sync)',
    withPasswords,
  );
  const ratio = report('HEADLINE, no passwords', headline);
  console.log(`ratio: ${ratio.toFixed(2)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
