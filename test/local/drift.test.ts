// Drift found per DatabaseCluster: each cluster is compared at its own spec.resyncInterval, and a REVOKE by hand
// on one cluster is corrected whatever another is doing. Deadlines are generous on purpose: the machine is shared;
// what must have happened first (a loop's first pass) is read from /metrics, not waited for.
import test from 'ava';
import {
  clusterManifests,
  eventually,
  manageCluster,
  metricValue,
  reconcilePasses,
  startLocal,
  type LocalServer,
} from '../support/local.ts';
import { createAdmin, sql } from '../support/postgres.ts';

let local: LocalServer;
let adminDsn: string;
// Each serial test below finds its clusters here, not made by the test before it: one that fails leaves the
// next one its ground.
test.before(async () => {
  local = await startLocal();
  adminDsn = await createAdmin(local.postgresDsn);
  // The RDS-like admin may not create event triggers: only the loops find the REVOKEs on these two.
  await manageCluster(local, 'quick', adminDsn, '2s');
  await manageCluster(local, 'slow', adminDsn, '1h');
  // With a superuser, the event triggers notify the loop: its resync is an hour away.
  await manageCluster(local, 'fast', local.postgresDsn, '1h');
});
test.after.always(async () => local?.stop());

const granted = (name: string) =>
  sql<{ ok: boolean }>(local.postgresDsn, 'SELECT has_table_privilege($1, $2, $3) AS ok', {
    database: `${name}_db`,
    params: [`${name}_user`, 'orders', 'SELECT'],
  }).then(([r]) => r!.ok);

const revokeByHand = (name: string) => sql(local.postgresDsn, `REVOKE SELECT ON orders FROM ${name}_user`, { database: `${name}_db` });

async function json(args: string[]) {
  const result = await local.kubectl([...args, '-o', 'json']);
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

const refusals: [interval: string, fault: string][] = [
  ['0s', 'must be from 1s to 24h'],
  ['48h', 'must be from 1s to 24h'],
  ['soon', 'spec.resyncInterval in body must be of type duration'],
];
for (const [interval, fault] of refusals) {
  test.serial(`a resyncInterval of "${interval}" is refused with 422 naming spec.resyncInterval`, async (t) => {
    const result = await local.kubectl(['apply', '-f', '-'], clusterManifests('refused', local.postgresDsn, interval).split('---\n')[1]!);
    t.not(result.code, 0);
    t.regex(result.stderr, /DatabaseCluster.* "refused" is invalid: spec.resyncInterval: Invalid value: /);
    t.true(result.stderr.includes(fault), result.stderr);
    t.not((await local.kubectl(['get', 'pgcluster', 'refused'])).code, 0);
  });
}

test.serial(
  'each cluster is compared at its own resyncInterval: a REVOKE is corrected on the 2s cluster while the 1h cluster still shows it',
  async (t) => {
    t.true(await eventually(async () => (await granted('quick')) && (await granted('slow')), 30_000));
    // The pass each loop starts with is over: the slow cluster's next is an hour away.
    t.true(await eventually(async () => (await reconcilePasses(local, 'quick')) > 0 && (await reconcilePasses(local, 'slow')) > 0, 30_000));
    await revokeByHand('quick');
    await revokeByHand('slow');
    t.true(await eventually(() => granted('quick'), 30_000), 'corrected at the 2s interval');
    t.false(await granted('slow'), 'not corrected before its 1h interval');
    const slow = await json(['get', 'pgrole', 'slow-user']);
    t.like(slow.status.drift, [{ database: 'slow_db', privilege: 'SELECT', expected: 'granted', actual: 'revoked' }]);
  },
);

function condition(object: { status?: { conditions?: { type: string; message: string }[] } }, type: string) {
  return object.status?.conditions?.find((c) => c.type === type);
}

test.serial('with an admin that may not create event triggers, status says Polling and the resync still corrects a REVOKE', async (t) => {
  t.true(await eventually(async () => (await json(['get', 'pgcluster', 'quick'])).status?.driftDetection === 'Polling', 30_000));
  const quick = await json(['get', 'pgcluster', 'quick']);
  t.like(condition(quick, 'EventTriggers'), { status: 'False', reason: 'NotPermitted' });
  t.regex(condition(quick, 'EventTriggers')!.message, /only a superuser may create event triggers/);
  await revokeByHand('quick');
  t.true(await eventually(() => granted('quick'), 30_000));
});

test.serial('with a superuser, status says EventTrigger and a REVOKE by hand is corrected long before a 1h resync interval', async (t) => {
  t.true(await eventually(async () => (await json(['get', 'pgcluster', 'fast'])).status?.driftDetection === 'EventTrigger', 60_000));
  t.like(condition(await json(['get', 'pgcluster', 'fast']), 'EventTriggers'), { status: 'True', reason: 'Installed' });
  t.true(await eventually(() => granted('fast'), 30_000));
  // The pass the loop starts with is over: any later pass before an hour is one a notification asked for.
  t.true(await eventually(async () => (await reconcilePasses(local, 'fast')) > 0, 30_000));
  const revokedAt = Date.now();
  await revokeByHand('fast');
  t.true(await eventually(() => granted('fast'), 30_000), 'only the event trigger can explain a correction before the hour');
  t.log(`corrected ${Date.now() - revokedAt} ms after the REVOKE`);
});

test.serial('the notifications of our own corrections settle: after a correction no statement runs again', async (t) => {
  t.true(await eventually(async () => (await json(['get', 'pgcluster', 'fast'])).status?.driftDetection === 'EventTrigger', 60_000));
  const batches = () => metricValue(local, 'catalog_operation_duration_seconds_count', { kind: 'batch', ok: 'true' });
  const before = await reconcilePasses(local, 'fast');
  await revokeByHand('fast');
  t.true(await eventually(() => granted('fast'), 30_000));
  // The pass that corrected, then the one our own GRANT's notification asked for, are over.
  t.true(await eventually(async () => (await reconcilePasses(local, 'fast')) >= before + 2, 30_000));
  const settled = await batches();
  t.true(settled > 0, 'the correction ran as a batch');
  await new Promise((r) => setTimeout(r, 3_000)); // a while in which nothing may run: absence takes time to see
  t.is(await batches(), settled);
});

test.serial(
  "a Database created on a 1h cluster after its loop's first pass gets its event triggers within seconds, not at the next resync",
  async (t) => {
    const parts = clusterManifests('late', local.postgresDsn, '1h').split('---\n');
    const cluster = await local.kubectl(['apply', '-f', '-'], [parts[0], parts[1]].join('---\n'));
    t.is(cluster.code, 0, cluster.stderr);
    t.true(
      await eventually(async () => (await reconcilePasses(local, 'late')) > 0, 30_000),
      'the loop has made its first pass, with no database yet',
    );
    const database = await local.kubectl(['apply', '-f', '-'], parts[2]!);
    t.is(database.code, 0, database.stderr);
    t.true(await eventually(async () => (await json(['get', 'pgcluster', 'late'])).status?.driftDetection === 'EventTrigger', 30_000));
  },
);

test.serial(
  'a managed database made a template by hand loses its connections at the next pass: none blocks a CREATE DATABASE copying it',
  async (t) => {
    await manageCluster(local, 'templ', local.postgresDsn, '2s');
    const connected = async () =>
      (
        await sql(
          local.postgresDsn,
          "SELECT 1 FROM pg_stat_activity WHERE datname = 'templ_db' AND application_name LIKE 'postgres-apiserver%'",
        )
      ).length;
    t.true(await eventually(async () => (await connected()) > 0, 30_000), 'listened to while it is a plain database');
    await sql(local.postgresDsn, 'ALTER DATABASE templ_db IS_TEMPLATE true');
    t.true(await eventually(async () => (await connected()) === 0, 30_000), 'no connection to a template');
    await sql(local.postgresDsn, 'CREATE DATABASE copied_from_template TEMPLATE templ_db');
    t.deepEqual(await sql(local.postgresDsn, "SELECT datname FROM pg_database WHERE datname = 'copied_from_template'"), [
      { datname: 'copied_from_template' },
    ]);
  },
);
