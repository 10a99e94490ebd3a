// Creating DatabaseRoles one at a time through the API, as `kubectl apply -f` of a folder sends them (each
// answer waits for its SQL), against psql sending, role by role, the SQL a person would write for the same
// end state. Last line: `ratio: <ours / psql>`.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { quoteIdent, quoteLiteral } from '../storage/catalog/identifiers.ts';
import {
  all,
  apiOf,
  benchRole,
  createTables,
  guideCluster,
  inDatabase,
  inParallel,
  kubectl,
  median,
  passwordSecret,
  psqlPath,
  seconds,
  startLocal,
  timePsql,
  ungranted,
} from './support.ts';
import { sql } from '../test/support/postgres.ts';

const count = Number(process.env.BENCH_CREATE_COUNT ?? 200);
const tableCount = 20;
/** Round after round the tables are granted to more roles: the last of 5 rounds of 200 covers the 801st to 1,000th role of each side. */
const rounds = Number(process.env.BENCH_CREATE_ROUNDS ?? 5);
const database = 'my_app_db_production';
/**
 * psql's roles are granted the same 20 tables in a database of their own: each side's ACLs then hold only its own
 * roles, and in every round both face as many grantees, whichever goes first.
 */
const referenceDatabase = 'reference_db';

/**
 * Per role, what the guide's DatabaseRole means in SQL, sent in autocommit as a person would: the same target SQL
 * the server plans, CONNECT included (a permission's database privileges default to CONNECT, granted to the role
 * itself so that it keeps it where PUBLIC's is revoked).
 */
function referenceSql(names: string[], passwords: string[]): string {
  return names
    .flatMap((name, i) => {
      const role = quoteIdent(name);
      return [
        `CREATE ROLE ${role} LOGIN PASSWORD ${quoteLiteral(passwords[i]!)};`,
        `GRANT CONNECT ON DATABASE ${quoteIdent(referenceDatabase)} TO ${role};`,
        `GRANT USAGE, CREATE ON SCHEMA public TO ${role};`,
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role};`,
        `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${role};`,
      ];
    })
    .join('\n');
}

/** Both sides must end with the role able to write every table. */
async function checkGranted(dsn: string, role: string, where = database): Promise<void> {
  if ((await ungranted(dsn, where, [role])).length > 0) throw new Error(`${role} lacks its privileges in ${where}`);
}

async function main(): Promise<void> {
  if (!existsSync(psqlPath)) throw new Error(`psql not found at ${psqlPath}: install the PostgreSQL client or set PSQL`);
  const started = performance.now();
  const local = await startLocal();
  const oneAtATime = apiOf(local.kubeconfig, 1);
  const setup = apiOf(local.kubeconfig, 8);
  try {
    await kubectl(local, ['apply', '-f', '-'], guideCluster(local.postgresDsn));
    await createTables(local.postgresDsn, database, tableCount);
    await sql(local.postgresDsn, `CREATE DATABASE ${referenceDatabase}`);
    await createTables(local.postgresDsn, referenceDatabase, tableCount);
    const ours: number[] = [];
    const reference: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const indexes = Array.from({ length: count }, (_, i) => round * count + i);
      const passwords = indexes.map(() => randomBytes(12).toString('hex'));
      await inParallel(count, 8, (i) =>
        setup.post('/api/v1/namespaces/default/secrets', passwordSecret(indexes[i]!, passwords[i]!)).then(() => undefined),
      );
      const file = join(local.dataDir, `reference-${round}.sql`);
      const referenceNames = indexes.map((i) => `reference_role_${i}`);
      writeFileSync(file, referenceSql(referenceNames, passwords));
      const runOurs = async () => {
        const t0 = performance.now();
        for (const i of indexes)
          await oneAtATime.post('/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles', benchRole(i));
        ours.push(performance.now() - t0);
      };
      const runReference = async () => reference.push(await timePsql(inDatabase(local.postgresDsn, referenceDatabase), file));
      for (const run of round % 2 === 0 ? [runOurs, runReference] : [runReference, runOurs]) await run();
      await checkGranted(local.postgresDsn, benchRole(indexes.at(-1)!).spec.roleName);
      await checkGranted(local.postgresDsn, referenceNames.at(-1)!, referenceDatabase);
    }
    const ratio = median(ours) / median(reference);
    const perRound = ours.map((o, i) => o / reference[i]!);
    const spread = Math.max(...perRound) / Math.min(...perRound) - 1;
    // What ours costs beyond psql's SQL: the ratio falls round after round while this stays, as psql's own cost
    // grows with the grantees of the ACLs both sides write.
    const beyond = ours.map((o, i) => (o - reference[i]!) / count);
    const beyondSpread = Math.max(...beyond) / Math.min(...beyond) - 1;
    console.log(`${count} DatabaseRoles POSTed one at a time (each answer after its SQL): ${seconds(median(ours))}  [runs: ${all(ours)}]`);
    console.log(
      `psql -f, the same roles' SQL statement by statement (autocommit):      ${seconds(median(reference))}  [runs: ${all(reference)}]`,
    );
    console.log(
      `per role: ours ${(median(ours) / count).toFixed(1)} ms, psql ${(median(reference) / count).toFixed(1)} ms; total run time ${seconds(performance.now() - started)}`,
    );
    console.log(
      `ratio per round, as roles accumulate: ${perRound.map((r) => r.toFixed(2)).join(', ')}; highest / lowest ${(spread * 100).toFixed(0)} % apart (flat means within 25 %: ${spread <= 0.25 ? 'met' : 'not met'}); ≤ 2× psql: ${ratio <= 2 ? 'met' : 'not met'}`,
    );
    console.log(
      `ours beyond psql, per role and round: ${beyond.map((b) => b.toFixed(1)).join(', ')} ms; highest / lowest ${(beyondSpread * 100).toFixed(0)} % apart`,
    );
    console.log(`ratio: ${ratio.toFixed(2)}`);
  } finally {
    oneAtATime.close();
    setup.close();
    await local.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
