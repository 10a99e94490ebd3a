// The fingerprint watch (reconcile/fingerprint.ts) on a fake clock against a real server: the clock decides
// when a tick comes, the server answers each read. A change by hand nudges the loop once; ticks that find
// nothing new nudge nothing; a tick while the last read is still waiting is skipped.
import test from 'ava';
import pg from 'pg';
import { pino } from 'pino';
import { FingerprintWatch } from '../../reconcile/fingerprint.ts';
import { connectionConfig } from '../../storage/catalog/dsn.ts';
import { ServerCatalog } from '../../storage/catalog/server.ts';
import type { SnapshotScope } from '../../storage/catalog/snapshot.ts';
import { fakeClock } from '../support/clock.ts';
import { sql, startTestServer, testServerNames, unique, type TestServer } from '../support/postgres.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer(testServerNames().at(-1)!);
});
test.after.always(async () => server?.stop());

/** Waits, in real time, until `check` holds: the server's answers take real time whatever the fake clock says. */
async function until(check: () => boolean | Promise<boolean>, ms = 20_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) if (await check()) return true;
  return check();
}

/** A cluster's catalog as the watch sees it, counting the reads it starts and those that have answered. */
function countedCatalog(t: { teardown(f: () => Promise<void>): void }) {
  const catalog = new ServerCatalog(server.superuserDsn);
  t.teardown(() => catalog.close());
  const reads = { started: 0, answered: 0 };
  const fingerprint = (scope: SnapshotScope) => {
    reads.started += 1;
    return catalog.fingerprint(scope).finally(() => (reads.answered += 1));
  };
  return { reads, catalog: { fingerprint } };
}

async function managedRole(): Promise<string> {
  const role = unique('watched');
  await sql(server.superuserDsn, `CREATE ROLE ${role} LOGIN`);
  return role;
}

test.serial('a change by hand nudges the loop once; reads that find nothing new nudge nothing', async (t) => {
  const clock = fakeClock();
  const role = await managedRole();
  const { reads, catalog } = countedCatalog(t);
  let nudges = 0;
  const watch = new FingerprintWatch(() => (nudges += 1), pino({ level: 'silent' }), clock, 1_000);
  t.teardown(() => watch.stop());
  watch.follow(catalog, [role], []);
  await clock.tick(0);
  t.true(await until(() => reads.answered === 1), 'the first read');
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 2));
  t.is(nudges, 0, 'nothing changed');
  await sql(server.superuserDsn, `ALTER ROLE ${role} NOLOGIN`);
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 3));
  t.is(nudges, 1, 'the change nudged');
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 4));
  t.is(nudges, 1, 'once');
  watch.follow(catalog, [role, await managedRole()], []);
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 5));
  t.is(nudges, 1, 'a role more to watch is no drift');
});

test.serial('a tick while the last read still waits is skipped: never two reads at once, and none after stop', async (t) => {
  const clock = fakeClock();
  const role = await managedRole();
  const { reads, catalog } = countedCatalog(t);
  const watch = new FingerprintWatch(() => undefined, pino({ level: 'silent' }), clock, 1_000);
  watch.follow(catalog, [role], []);
  await clock.tick(0);
  t.true(await until(() => reads.answered === 1), 'the first read, which opens the pool connection');
  // Reading pg_roles waits while another session holds pg_authid.
  const locker = new pg.Client(connectionConfig(server.superuserDsn));
  await locker.connect();
  t.teardown(() => locker.end());
  await locker.query('BEGIN; LOCK TABLE pg_catalog.pg_authid IN ACCESS EXCLUSIVE MODE');
  await clock.tick(1_000);
  t.is(reads.started, 2);
  const waiting = async () =>
    (
      await locker.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%hashtextextended%'`,
      )
    ).rows[0]!.n;
  t.true(await until(async () => (await waiting()) === 1), 'the read waits on the lock');
  await clock.tick(5_000);
  t.is(reads.started, 2, 'five ticks passed while it waited: none started a read');
  await locker.query('ROLLBACK');
  t.true(await until(() => reads.answered === 2), 'the read answers once the lock is gone');
  await clock.tick(1_000);
  t.is(reads.started, 3, 'the next tick reads again');
  t.true(await until(() => reads.answered === 3));
  await watch.stop();
  await clock.tick(5_000);
  t.is(reads.started, 3, 'no read after stop');
});

test.serial('a role whose object is created between passes is digested from the next read: a change by hand to it nudges', async (t) => {
  const clock = fakeClock();
  const [first, later] = [await managedRole(), await managedRole()];
  const { reads, catalog } = countedCatalog(t);
  let nudges = 0;
  const watch = new FingerprintWatch(() => (nudges += 1), pino({ level: 'silent' }), clock, 1_000);
  t.teardown(() => watch.stop());
  watch.follow(catalog, [first], [], clock.now());
  await clock.tick(0);
  t.true(await until(() => reads.answered === 1));
  watch.add('role', later);
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 2));
  await sql(server.superuserDsn, `ALTER ROLE ${later} NOLOGIN`);
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 3));
  t.is(nudges, 1, 'the new role is in the digest');
  // A pass that read the objects before the role was added keeps it; one that read them after decides.
  watch.follow(catalog, [first], [], clock.now() - 5_000);
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 4));
  await sql(server.superuserDsn, `ALTER ROLE ${later} LOGIN`);
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 5));
  t.is(nudges, 2, 'kept by a pass that read before it came');
  watch.follow(catalog, [first], [], clock.now());
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 6));
  await sql(server.superuserDsn, `ALTER ROLE ${later} NOLOGIN`);
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 7));
  t.is(nudges, 2, 'dropped by a pass that read after it came (its object is gone)');
  watch.follow(catalog, undefined, [], clock.now());
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 8));
  await sql(server.superuserDsn, `ALTER ROLE ${first} NOLOGIN`);
  await clock.tick(1_000);
  t.true(await until(() => reads.answered === 9));
  t.is(nudges, 3, 'a pass that could not read the roles keeps those it had');
});

test.serial(
  'a pass compares the digest before and after it: a change meanwhile, or a correction, asks for one more pass; a quiet pass does not',
  async (t) => {
    const clock = fakeClock();
    const role = await managedRole();
    const { catalog } = countedCatalog(t);
    let nudges = 0;
    const watch = new FingerprintWatch(() => (nudges += 1), pino({ level: 'silent' }), clock, 3_600_000);
    t.teardown(() => watch.stop());
    const pass = async (during: () => Promise<unknown>, corrected = false) => {
      await watch.beforePass();
      await during();
      watch.follow(catalog, [role], [], clock.now());
      await watch.afterPass(corrected);
    };
    await pass(() => Promise.resolve());
    t.is(nudges, 0, 'the first pass has nothing to compare with');
    await pass(() => Promise.resolve());
    t.is(nudges, 0, 'nothing changed');
    await pass(() => sql(server.superuserDsn, `ALTER ROLE ${role} CONNECTION LIMIT 3`));
    t.is(nudges, 1, 'changed while the pass ran');
    await pass(() => Promise.resolve(), true);
    t.is(nudges, 2, 'a pass that corrected something: the same drift may have been made again meanwhile');
  },
);
