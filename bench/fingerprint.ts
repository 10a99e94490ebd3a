// What the digest of the shared catalogs (storage/catalog/fingerprint.ts) costs, which the reconciler reads once a
// second per DatabaseCluster: its latency and CPU per read with 1,000 managed roles and 20 managed databases, and
// 200 clusters' worth of it (200 catalogs, each with its own pool and watch, reading at the reconciler's rate, twice a second) against one
// server. Last line: `ratio: <one read / one snapshot of the same roles and databases (what a pass reads)>`.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { pino } from 'pino';
import { systemClock } from '../lib/clock.ts';
import { FingerprintWatch, fingerprintIntervalMs } from '../reconcile/fingerprint.ts';
import { connectionConfig } from '../storage/catalog/dsn.ts';
import { fingerprintSql, readFingerprintFacts } from '../storage/catalog/fingerprint.ts';
import { ServerCatalog } from '../storage/catalog/server.ts';
import { sql, startTestServer } from '../test/support/postgres.ts';
import { median, processCpuMs } from './support.ts';

const roleCount = Number(process.env.BENCH_FINGERPRINT_ROLES ?? 1_000);
const databaseCount = Number(process.env.BENCH_FINGERPRINT_DATABASES ?? 20);
const clusterCount = Number(process.env.BENCH_FINGERPRINT_CLUSTERS ?? 200);
const reads = 200;
const loadSeconds = 20;

const ms = (x: number) => `${x.toFixed(2)} ms`;

/** Nearest rank. */
function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

const ownCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** The server's backends of our catalogs (their pools), by application_name. */
async function backendPids(dsn: string): Promise<number[]> {
  const rows = await sql<{ pid: number }>(dsn, `SELECT pid FROM pg_stat_activity WHERE application_name = 'postgres-apiserver'`);
  return rows.map((r) => r.pid);
}

async function arrange(dsn: string, roles: string[], groups: string[], databases: string[]): Promise<void> {
  const client = new pg.Client(connectionConfig(dsn));
  await client.connect();
  try {
    await client.query(`SET password_encryption = 'scram-sha-256'`);
    for (const group of groups) await client.query(`CREATE ROLE ${group} NOLOGIN`);
    for (const [i, role] of roles.entries())
      await client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'password-${i}' IN ROLE ${groups[i % groups.length]}`);
    for (const database of databases) {
      await client.query(`CREATE DATABASE ${database}`);
      await client.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${database} TO ${roles.join(', ')}`);
    }
  } finally {
    await client.end();
  }
}

/** One session reading the digest `reads` times: the latencies, and the CPU its backend and this process used per read. */
async function perRead(dsn: string, scope: { roles: string[]; databases: string[] }) {
  const client = new pg.Client(connectionConfig(dsn));
  await client.connect();
  try {
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const text = fingerprintSql(await readFingerprintFacts(client));
    const params = [scope.roles, scope.databases];
    for (let i = 0; i < 10; i++) await client.query(text, params); // warm the backend's caches
    const times: number[] = [];
    const [serverBefore, ownBefore] = [processCpuMs(pid), ownCpuMs()];
    for (let i = 0; i < reads; i++) {
      const started = performance.now();
      await client.query(text, params);
      times.push(performance.now() - started);
    }
    return {
      p50: percentile(times, 0.5),
      p99: percentile(times, 0.99),
      serverCpu: (processCpuMs(pid) - serverBefore) / reads,
      ownCpu: (ownCpuMs() - ownBefore) / reads,
    };
  } finally {
    await client.end();
  }
}

/**
 * `clusterCount` catalogs on the one server, each with a watch reading at the reconciler's rate, for `loadSeconds`: how many
 * reads answered, how many ticks found the last read still running, and the CPU used by the server's backends
 * and by this process.
 */
async function underLoad(dsn: string, scope: { roles: string[]; databases: string[] }) {
  const catalogs = Array.from({ length: clusterCount }, () => new ServerCatalog(dsn, { maxConnections: 1 }));
  let answered = 0;
  const counted = catalogs.map((catalog) => ({
    fingerprint: (s: typeof scope) => catalog.fingerprint(s).finally(() => (answered += 1)),
  }));
  // Every catalog opens its connection first, so that the measured seconds hold reads only.
  await Promise.all(catalogs.map((catalog) => catalog.fingerprint(scope)));
  const pids = await backendPids(dsn);
  const watches = counted.map(() => new FingerprintWatch(() => undefined, pino({ level: 'silent' }), systemClock));
  const [serverBefore, ownBefore, started] = [pids.map(processCpuMs), ownCpuMs(), performance.now()];
  // Spread over the first interval, as clusters' loops start at different moments.
  await Promise.all(
    watches.map(
      (watch, i) =>
        new Promise<void>((resolve) =>
          setTimeout(
            () => {
              watch.follow(counted[i], scope.roles, scope.databases);
              resolve();
            },
            (i * fingerprintIntervalMs) / clusterCount,
          ),
        ),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, loadSeconds * 1000 - (performance.now() - started)));
  await Promise.all(watches.map((watch) => watch.stop()));
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = pids.reduce((sum, pid, i) => sum + processCpuMs(pid) - serverBefore[i]!, 0);
  const ownCpu = ownCpuMs() - ownBefore;
  await Promise.all(catalogs.map((catalog) => catalog.close()));
  return { seconds, answered, connections: pids.length, serverCores: serverCpu / 1000 / seconds, ownCores: ownCpu / 1000 / seconds };
}

async function main(): Promise<void> {
  const server = await startTestServer('pg17', { max_connections: String(clusterCount + 50) });
  try {
    const roles = Array.from({ length: roleCount }, (_, i) => `member_${i}`);
    const groups = Array.from({ length: 10 }, (_, i) => `group_${i}`);
    const databases = Array.from({ length: databaseCount }, (_, i) => `app_${i}`);
    await arrange(server.superuserDsn, roles, groups, databases);
    const scope = { roles: [...roles, ...groups], databases };
    const [version] = await sql<{ server_version: string }>(server.superuserDsn, 'SHOW server_version');
    console.log(
      `PostgreSQL ${version!.server_version}; ${roleCount} managed login roles with passwords (each in one of ${groups.length} managed groups) and ${databaseCount} managed databases, CONNECT and TEMPORARY granted to every role on every database`,
    );

    const catalog = new ServerCatalog(server.superuserDsn);
    const snapshots: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await catalog.snapshot(scope, { fresh: true });
      snapshots.push(performance.now() - started);
    }
    await catalog.close();

    const superuser = await perRead(server.superuserDsn, scope);
    const admin = await perRead(server.adminDsn, scope);
    for (const [who, r] of [
      ['superuser (pg_authid, passwords included)', superuser],
      ['RDS-like admin (pg_roles, no passwords)', admin],
    ] as const) {
      console.log(
        `  one read as ${who}: p50 ${ms(r.p50)}, p99 ${ms(r.p99)}; CPU per read: server backend ${ms(r.serverCpu)}, this process ${ms(r.ownCpu)}`,
      );
    }
    console.log(`  one snapshot of the same roles and databases (what a pass reads): median ${ms(median(snapshots))}`);

    const load = await underLoad(server.superuserDsn, scope);
    console.log(
      `  ${clusterCount} clusters on this one server, each reading every ${fingerprintIntervalMs} ms for ${load.seconds.toFixed(1)} s: ${(load.answered / load.seconds).toFixed(0)} reads/s answered over ${load.connections} connections; CPU: server ${(load.serverCores * 100).toFixed(0)}% of a core, this process ${(load.ownCores * 100).toFixed(0)}% of a core`,
    );
    console.log(`ratio: ${(superuser.p50 / median(snapshots)).toFixed(3)}`);
  } finally {
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
