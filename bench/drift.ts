// How long a REVOKE by hand stays uncorrected, as a user sees it: from the REVOKE committing to the grant being
// back in the catalog, on a local-mode server under driftPolicy Correct. Two DatabaseClusters on the same
// embedded PostgreSQL 17 with the same resyncInterval: one reached as a superuser (event triggers), one as an
// RDS-like admin (the resync alone). Last line: `ratio: <p99 with the event trigger / resyncInterval>`.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { durationMilliseconds } from '../openapi/common.ts';
import { connectionConfig } from '../storage/catalog/dsn.ts';
import { manageCluster, startLocal, type LocalServer } from '../test/support/local.ts';
import { createAdmin } from '../test/support/postgres.ts';

const trials = Number(process.env.BENCH_DRIFT_TRIALS ?? 50);
const resyncInterval = process.env.BENCH_DRIFT_RESYNC ?? '2s';
const resyncMs = durationMilliseconds(resyncInterval);
const pollMs = 20;
/** A trial that takes longer has failed: the loop alone corrects within an interval and a pass. */
const trialTimeoutMs = 5 * resyncMs + 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Nearest rank: with 50 trials, p99 is the slowest. */
function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

interface Mode {
  title: string;
  cluster: string;
  /** The superuser's session in the cluster's database, which revokes and then polls the ACL. */
  client: pg.Client;
  times: number[];
}

async function granted(mode: Mode): Promise<boolean> {
  const { rows } = await mode.client.query<{ ok: boolean }>('SELECT has_table_privilege($1, $2, $3) AS ok', [
    `${mode.cluster}_user`,
    'orders',
    'SELECT',
  ]);
  return rows[0]!.ok;
}

/**
 * One REVOKE, at a random moment of the resync interval (right after a correction, the next pass would be a
 * whole interval away every time), then the ACL polled every 20 ms until the grant is back.
 */
async function trial(mode: Mode): Promise<void> {
  await sleep(Math.random() * resyncMs);
  await mode.client.query(`REVOKE SELECT ON orders FROM ${mode.cluster}_user`);
  const committed = performance.now();
  while (!(await granted(mode))) {
    if (performance.now() - committed > trialTimeoutMs)
      throw new Error(`${mode.title}: the grant was not back after ${seconds(trialTimeoutMs)}`);
    await sleep(pollMs);
  }
  mode.times.push(performance.now() - committed);
}

async function driftDetection(local: LocalServer, cluster: string): Promise<string | undefined> {
  const { stdout } = await local.kubectl(['get', 'pgcluster', cluster, '-o', 'jsonpath={.status.driftDetection}']);
  return stdout || undefined;
}

/** The cluster's objects applied, the grant in place, and drift detected the way the mode says. */
async function prepare(local: LocalServer, cluster: string, dsn: string, expected: string, title: string): Promise<Mode> {
  await manageCluster(local, cluster, dsn, resyncInterval);
  const client = new pg.Client(connectionConfig(local.postgresDsn, `${cluster}_db`));
  await client.connect();
  const mode: Mode = { title, cluster, client, times: [] };
  for (
    const deadline = Date.now() + 30_000;
    !(await granted(mode)) || (await driftDetection(local, cluster)) !== expected;
    await sleep(200)
  ) {
    if (Date.now() > deadline) throw new Error(`cluster ${cluster}: no ${expected} drift detection with the grant in place after 30 s`);
  }
  return mode;
}

function report(mode: Mode): number {
  const [p50, p99] = [percentile(mode.times, 0.5), percentile(mode.times, 0.99)];
  const ofResync = (ms: number) => (ms / resyncMs).toFixed(2);
  console.log(`  ${mode.title}: p50 ${seconds(p50)}, p99 ${seconds(p99)}; of resyncInterval: p50 ${ofResync(p50)}, p99 ${ofResync(p99)}`);
  return p99;
}

async function main(): Promise<void> {
  // The server's own default interval only matters for finding new clusters here: both clusters set theirs.
  const local = await startLocal(undefined, { resyncIntervalMs: 1_000 });
  const modes: Mode[] = [];
  try {
    modes.push(await prepare(local, 'triggered', local.postgresDsn, 'EventTrigger', 'with the event trigger (superuser)'));
    modes.push(await prepare(local, 'polled', await createAdmin(local.postgresDsn), 'Polling', 'without (RDS-like admin, resync alone)'));
    const {
      rows: [server],
    } = await modes[0]!.client.query<{ server_version: string }>('SHOW server_version');
    console.log(
      `PostgreSQL ${server!.server_version}, local mode, resyncInterval ${resyncInterval}, ${trials} trials each: REVOKE by hand, then the grant polled every ${pollMs} ms`,
    );
    // The two modes take turns going first.
    for (let i = 0; i < trials; i++) for (const mode of i % 2 === 0 ? modes : [...modes].reverse()) await trial(mode);
  } finally {
    await Promise.all(modes.map((m) => m.client.end()));
    await local.stop();
  }
  const [triggered, polled] = modes.map(report) as [number, number];
  console.log(
    `  target p99 <= 2 s with the event trigger: ${triggered <= 2_000 ? 'met' : 'missed'}; p99 with / without: ${(triggered / polled).toFixed(2)}`,
  );
  console.log(`ratio: ${(triggered / resyncMs).toFixed(2)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
