// A DatabaseCluster's spec change is acted on at once: switching driftPolicy from Report to Correct corrects the
// drift it reported without waiting for the resync, an hour away here.
import test from 'ava';
import { eventually, guideManifests, patchClusterSpec, startLocal, type LocalServer } from '../support/local.ts';
import { sql } from '../support/postgres.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocal(undefined, { resyncIntervalMs: 3_600_000 });
  const reporting = guideManifests(local.postgresDsn).replace(
    '  connection:\n    name: postgres-connection\n    namespace: default\n',
    '  connection:\n    name: postgres-connection\n    namespace: default\n  driftPolicy: Report\n',
  );
  if (reporting === guideManifests(local.postgresDsn)) throw new Error('the guide’s DatabaseCluster is not as expected');
  const applied = await local.kubectl(['apply', '-f', '-'], reporting);
  if (applied.code !== 0) throw new Error(applied.stderr);
});
test.after.always(async () => local?.stop());

const canCreateTables = async () =>
  (
    await sql<{ ok: boolean }>(local.postgresDsn, `SELECT has_schema_privilege('my_app_user', 'public', 'CREATE') AS ok`, {
      database: 'my_app_db_production',
    })
  )[0]!.ok;

test('driftPolicy switched from Report to Correct: the reported drift is corrected at once, not at the next resync', async (t) => {
  t.true(await eventually(canCreateTables, 30_000), 'the guide’s role was never given CREATE on public');
  await sql(local.postgresDsn, 'REVOKE CREATE ON SCHEMA public FROM my_app_user', { database: 'my_app_db_production' });
  const drift = async () =>
    JSON.parse((await local.kubectl(['get', 'pgrole', 'app-user', '-o', 'json'])).stdout).status?.drift?.length ?? 0;
  t.true(await eventually(async () => (await drift()) > 0, 30_000), 'the REVOKE was never reported');
  t.false(await canCreateTables(), 'Report left it alone');
  await patchClusterSpec(local, 'main-cluster', { driftPolicy: 'Correct' });
  t.true(await eventually(canCreateTables, 30_000), 'not corrected within 30 s of the switch');
});
