// A cluster's connections stay within its budget (spec.connectionBudget, 10 by default) on each replica: with 28
// managed databases, 5 hold a listening connection, 5 are left for requests and the loop, and the DatabaseCluster's
// status names the databases compared at each resync. A larger budget gives more listeners, up to 20.
import test from 'ava';
import { maxListenedDatabases } from '../../storage/catalog/drifttrigger.ts';
import { eventually, startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { sql } from '../support/postgres.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
});
test.after.always(async () => local?.stop());

/** Our connections to the managed server by purpose (the object store's, in the same server here, left out). */
async function ours(): Promise<{ listeners: number; all: number }> {
  const rows = await sql<{ application_name: string }>(
    local.postgresDsn,
    `SELECT application_name FROM pg_stat_activity WHERE application_name IN ('postgres-apiserver', 'postgres-apiserver drift listener')`,
  );
  return { listeners: rows.filter((r) => r.application_name.endsWith('listener')).length, all: rows.length };
}

async function cluster(): Promise<{
  status?: { connectionBudget?: number; pollingDatabases?: string[]; conditions?: { type: string; message: string }[] };
}> {
  return JSON.parse((await local.kubectl(['get', 'pgcluster', 'main-cluster', '-o', 'json'])).stdout);
}

test.serial(
  '28 databases on a cluster with the default budget: never more than 10 connections, 5 of them listening, and status names the rest',
  async (t) => {
    let most = 0;
    let sampling = true;
    t.teardown(() => (sampling = false));
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, (await ours()).all);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const more = Array.from(
      { length: 27 },
      (_, i) => `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: extra-${i}, namespace: default}
spec: {name: extra_${String(i).padStart(2, '0')}, databaseClusterRef: {name: main-cluster}, schemas: [app]}
`,
    ).join('---\n');
    const applied = await local.kubectl(['apply', '-f', '-'], more);
    t.is(applied.code, 0, applied.stderr);
    t.true(await eventually(async () => (await ours()).listeners === 5, 30_000), `listeners: ${(await ours()).listeners}`);
    const listed = await local.kubectl(['get', 'pgdb', '-o', 'json']);
    t.is(JSON.parse(listed.stdout).items.length, 28);
    t.true(
      await eventually(async () => (await cluster()).status?.pollingDatabases?.length === 23, 20_000),
      JSON.stringify((await cluster()).status),
    );
    // extra_00 … extra_04 sort first: my_app_db_production is among those compared at each resync.
    const seen = await cluster();
    t.true(seen.status?.pollingDatabases?.includes('my_app_db_production'), JSON.stringify(seen.status));
    t.is(seen.status?.connectionBudget, 10);
    const message = (await cluster()).status!.conditions!.find((c) => c.type === 'EventTriggers')!.message;
    t.regex(message, /23 more managed database\(s\) get no listener/);
    sampling = false;
    await sampler;
    // A connection closed to make room still shows for the moment its server process takes to exit.
    t.true(most <= 11, `${most} connections at the most`);
    t.log(`at the most ${most} connections of the budget of 10`);
  },
);

test.serial(`a larger budget gives more listeners, up to ${maxListenedDatabases}`, async (t) => {
  const patched = await local.kubectl(['patch', 'pgcluster', 'main-cluster', '--type', 'merge', '-p', '{"spec":{"connectionBudget":40}}']);
  t.is(patched.code, 0, patched.stderr);
  t.true(await eventually(async () => (await ours()).listeners === maxListenedDatabases, 30_000), `listeners: ${(await ours()).listeners}`);
  t.true(await eventually(async () => (await cluster()).status?.pollingDatabases?.length === 8, 20_000));
});
