// The fast path's connections are capped: with more managed databases than maxListenedDatabases, only that
// many hold a listening connection, and the DatabaseCluster's status says the others are compared at each resync.
import test from 'ava';
import { maxListenedDatabases } from '../../storage/catalog/drifttrigger.ts';
import { eventually, startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { sql } from '../support/postgres.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
});
test.after.always(async () => local?.stop());

test(`a cluster with more than ${maxListenedDatabases} managed databases holds ${maxListenedDatabases} listening connections, and its status says so`, async (t) => {
  const more = Array.from(
    { length: maxListenedDatabases },
    (_, i) => `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: extra-${i}, namespace: default}
spec: {name: extra_${String(i).padStart(2, '0')}, databaseClusterRef: {name: main-cluster}}
`,
  ).join('---\n');
  const applied = await local.kubectl(['apply', '-f', '-'], more);
  t.is(applied.code, 0, applied.stderr);
  const message = async () => {
    const cluster = JSON.parse((await local.kubectl(['get', 'pgcluster', 'main-cluster', '-o', 'json'])).stdout);
    return (cluster.status?.conditions ?? []).find((c: { type: string }) => c.type === 'EventTriggers')?.message ?? '';
  };
  t.true(
    await eventually(
      async () => (await message()).includes(`1 more managed database(s) get no listener (at most ${maxListenedDatabases} per cluster`),
      20_000,
    ),
    await message(),
  );
  // my_app_db_production sorts after extra_00…extra_19: it is the one compared at each resync only. While the
  // databases are created one by one, it is among the first 20 for a while: the count alone may reach 20 early.
  const listenedTo = async () =>
    (
      await sql<{ datname: string }>(
        local.postgresDsn,
        `SELECT datname FROM pg_stat_activity WHERE application_name = 'postgres-apiserver drift listener' ORDER BY 1`,
      )
    ).map((r) => r.datname);
  const expected = JSON.stringify(Array.from({ length: maxListenedDatabases }, (_, i) => `extra_${String(i).padStart(2, '0')}`));
  t.true(
    await eventually(async () => JSON.stringify(await listenedTo()) === expected, 20_000),
    `listened to: ${(await listenedTo()).join(', ')}`,
  );
});
