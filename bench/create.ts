// Creating DatabaseRoles one at a time through the API, as `kubectl apply -f` of a folder sends them (each
// answer waits for its SQL), against psql sending, role by role, the SQL a person would write for the same
// end state. Last line: `ratio: <ours / psql>`.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify as stringifyYaml } from 'yaml';
import { quoteIdent, quoteLiteral } from '../storage/catalog/identifiers.ts';
import {
  all,
  apiOf,
  benchRole,
  createTables,
  guideCluster,
  guidePlace,
  inDatabase,
  inParallel,
  kubectl,
  median,
  metricSum,
  passwordSecret,
  psqlPath,
  seconds,
  startLocal,
  timePsql,
  ungranted,
  type Api,
  type LocalServer,
  type RolePlace,
} from './support.ts';
import { sql } from '../test/support/postgres.ts';

const count = Number(process.env.BENCH_CREATE_COUNT ?? 200);
const tableCount = 20;
/** Rounds of `count` in each part: 5 rounds of 200 reach the 1,000th role of each side. */
const rounds = Number(process.env.BENCH_CREATE_ROUNDS ?? 5);
const rolesPath = (namespace: string) => `/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/${namespace}/databaseroles`;
/**
 * psql's roles of the first part are granted the same 20 tables in a database of their own: each side's ACLs then
 * hold only its own roles, and in every round both face as many grantees, whichever goes first.
 */
const referenceDatabase = 'reference_db';

/**
 * Per role, what the guide's DatabaseRole means in SQL, sent in autocommit as a person would: the same target SQL
 * the server plans, CONNECT included (a permission's database privileges default to CONNECT, granted to the role
 * itself so that it keeps it where PUBLIC's is revoked).
 */
function referenceSql(names: string[], passwords: string[], database: string): string {
  return names
    .flatMap((name, i) => {
      const role = quoteIdent(name);
      return [
        `CREATE ROLE ${role} LOGIN PASSWORD ${quoteLiteral(passwords[i]!)};`,
        `GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${role};`,
        `GRANT USAGE, CREATE ON SCHEMA public TO ${role};`,
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role};`,
        `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${role};`,
      ];
    })
    .join('\n');
}

/** Both sides must end with the role able to write every table. */
async function checkGranted(dsn: string, role: string, database: string): Promise<void> {
  if ((await ungranted(dsn, database, [role])).length > 0) throw new Error(`${role} lacks its privileges in ${database}`);
}

interface Round {
  ours: number;
  reference: number;
}

interface Bench {
  local: LocalServer;
  oneAtATime: Api;
  setup: Api;
}

/**
 * The roles `indexes` POSTed one at a time in `place`, and psql sending the same SQL for as many roles of its own
 * in `reference`: the two taking turns going first from round to round.
 */
async function runRound({ local, oneAtATime, setup }: Bench, place: RolePlace, reference: string, indexes: number[]): Promise<Round> {
  const passwords = indexes.map(() => randomBytes(12).toString('hex'));
  await inParallel(indexes.length, 8, (i) =>
    setup
      .post(`/api/v1/namespaces/${place.namespace}/secrets`, passwordSecret(indexes[i]!, passwords[i]!, place.namespace))
      .then(() => undefined),
  );
  const file = join(local.dataDir, `reference-${indexes[0]}.sql`);
  const referenceNames = indexes.map((i) => `reference_role_${i}`);
  writeFileSync(file, referenceSql(referenceNames, passwords, reference));
  const result = { ours: 0, reference: 0 };
  const runOurs = async () => {
    const t0 = performance.now();
    for (const i of indexes) await oneAtATime.post(rolesPath(place.namespace), benchRole(i, place));
    result.ours = performance.now() - t0;
  };
  const runReference = async () => (result.reference = await timePsql(inDatabase(local.postgresDsn, reference), file));
  const oursFirst = Math.floor(indexes[0]! / count) % 2 === 0;
  for (const run of oursFirst ? [runOurs, runReference] : [runReference, runOurs]) await run();
  await checkGranted(local.postgresDsn, benchRole(indexes.at(-1)!, place).spec.roleName, place.database);
  await checkGranted(local.postgresDsn, referenceNames.at(-1)!, reference);
  return result;
}

const indexesOf = (round: number) => Array.from({ length: count }, (_, i) => round * count + i);

/** Rounds of the roles `first`.. in `place`, psql's in `reference`. */
async function inRounds(bench: Bench, first: number, places: (round: number) => [RolePlace, string]): Promise<Round[]> {
  const results: Round[] = [];
  for (let round = 0; round < rounds; round++) results.push(await runRound(bench, ...places(round), indexesOf(first + round)));
  return results;
}

/** A namespace with a Database of its own (`kubectl apply`, as a team would), and its 20 tables. */
async function fixedPlace(local: LocalServer, round: number): Promise<RolePlace> {
  const place = { namespace: `fixed-${round + 1}`, database: `fixed_db_${round + 1}` };
  const manifests = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: place.namespace } },
    {
      apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
      kind: 'Database',
      metadata: { name: 'app-db', namespace: place.namespace },
      spec: { name: place.database, schema: 'public', databaseClusterRef: { name: 'main-cluster' } },
    },
  ];
  await kubectl(local, ['apply', '-f', '-'], manifests.map((m) => stringifyYaml(m)).join('---\n'));
  await createTables(local.postgresDsn, place.database, tableCount);
  return place;
}

/**
 * What both parts need, made before either is timed: the guide's database and psql's, and for part 2 a namespace
 * with a Database and a database of psql's per round, each with 20 tables.
 */
async function setUp(local: LocalServer): Promise<RolePlace[]> {
  const dsn = local.postgresDsn;
  await kubectl(local, ['apply', '-f', '-'], guideCluster(dsn));
  await createTables(dsn, guidePlace.database, tableCount);
  const places: RolePlace[] = [];
  for (let round = 0; round < rounds; round++) places.push(await fixedPlace(local, round));
  for (const database of [referenceDatabase, ...places.map((_, round) => fixedReference(round))]) {
    await sql(dsn, `CREATE DATABASE ${database}`);
    await createTables(dsn, database, tableCount);
  }
  return places;
}

const fixedReference = (round: number) => `reference_fixed_${round + 1}`;

/** The passes main-cluster's loop has ended, from the server's /metrics. */
async function passesOf(api: Api): Promise<number> {
  const { status, text } = await api.call('GET', '/metrics');
  if (status !== 200) throw new Error(`GET /metrics: ${status} ${text.slice(0, 300)}`);
  return metricSum(text, 'reconcile_passes_total', ['cluster="main-cluster"']);
}

/**
 * Until the cluster's loop is quiet: each Database created asks its loop for a pass (and its tables' DDL, through
 * the event triggers, for more); a pass reads every role with its live status, and would compete with what is
 * timed. Quiet: a pass has ended since `before` and none for a second.
 */
async function quiet(api: Api, before: number): Promise<void> {
  const deadline = performance.now() + 120_000;
  let last = await passesOf(api);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = await passesOf(api);
    if (now === last && now > before) return;
    if (performance.now() > deadline) throw new Error('the loop of main-cluster was not quiet within 2 minutes of the set-up');
    last = now;
  }
}

const spreadOf = (xs: number[]) => Math.max(...xs) / Math.min(...xs) - 1;
const percent = (x: number) => `${(x * 100).toFixed(0)} %`;

/** A part's lines; its median ratio and how far apart its rounds' ratios are. */
function report(title: string, results: Round[]): { ratio: number; spread: number } {
  const ours = results.map((r) => r.ours);
  const reference = results.map((r) => r.reference);
  const ratio = median(ours) / median(reference);
  const perRound = results.map((r) => r.ours / r.reference);
  // What ours costs beyond psql, per role: the part of ours that is not the SQL.
  const beyond = results.map((r) => (r.ours - r.reference) / count);
  console.log(title);
  console.log(`  ${count} DatabaseRoles POSTed one at a time (each answer after its SQL): ${seconds(median(ours))}  [runs: ${all(ours)}]`);
  console.log(
    `  psql -f, the same roles' SQL statement by statement (autocommit):      ${seconds(median(reference))}  [runs: ${all(reference)}]`,
  );
  console.log(
    `  per role: ours ${(median(ours) / count).toFixed(1)} ms, psql ${(median(reference) / count).toFixed(1)} ms; median ratio ${ratio.toFixed(2)}`,
  );
  console.log(
    `  ratio per round, as roles accumulate: ${perRound.map((r) => r.toFixed(2)).join(', ')}; highest / lowest ${percent(spreadOf(perRound))} apart`,
  );
  console.log(
    `  ours beyond psql, per role and round: ${beyond.map((b) => b.toFixed(1)).join(', ')} ms; highest / lowest ${percent(spreadOf(beyond))} apart`,
  );
  return { ratio, spread: spreadOf(perRound) };
}

const verdict = (ok: boolean) => (ok ? 'met' : 'not met');

async function main(): Promise<void> {
  if (!existsSync(psqlPath)) throw new Error(`psql not found at ${psqlPath}: install the PostgreSQL client or set PSQL`);
  const started = performance.now();
  const local = await startLocal();
  const bench: Bench = { local, oneAtATime: apiOf(local.kubeconfig, 1), setup: apiOf(local.kubeconfig, 8) };
  try {
    const before = await passesOf(bench.setup);
    const places = await setUp(local);
    await quiet(bench.setup, before);
    const one = report(
      `Part 1, every round in the guide's database (its ACLs grow round after round):`,
      await inRounds(bench, 0, () => [guidePlace, referenceDatabase]),
    );
    const fixed = report(
      `Part 2, each round in a database of its own, of a namespace of its own (${count} grantees each; the roles on the server accumulate):`,
      await inRounds(bench, rounds, (round) => [places[round]!, fixedReference(round)]),
    );
    console.log(`total run time ${seconds(performance.now() - started)}`);
    console.log(
      `≤ 2× psql (part 1, the median round): ${verdict(one.ratio <= 2)}; in databases of fixed size (part 2): ${fixed.ratio.toFixed(2)}, ${verdict(fixed.ratio <= 2)}`,
    );
    console.log(
      `flat within 25 % in a database of fixed size (part 2): ${verdict(fixed.spread <= 0.25)}; in the growing database (part 1): ${verdict(one.spread <= 0.25)}`,
    );
    console.log(`ratio: ${one.ratio.toFixed(2)}`);
  } finally {
    bench.oneAtATime.close();
    bench.setup.close();
    await local.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
