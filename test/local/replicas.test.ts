// Two replicas sharing one object store: both serve the API, exactly one leads (runs the reconciler), and when
// the leader goes the other takes over.
import test from 'ava';
import { eventually, startLocal, type LocalServer } from '../support/local.ts';
import { sql, startTestServer, type TestServer } from '../support/postgres.ts';

let store: TestServer;
const replicas: LocalServer[] = [];
test.before(async () => {
  store = await startTestServer('pg17');
});
test.after.always(async () => {
  for (const r of replicas) await r.stop().catch(() => undefined);
  await store?.stop();
});

test('one replica leads, both serve the same objects, and the other takes over within 15 s when the leader stops', async (t) => {
  const storeDsn = store.superuserDsn;
  const a = await startLocal(undefined, { storeDsn });
  replicas.push(a);
  t.true(await eventually(() => a.isLeader(), 30_000), 'the first replica leads');
  const b = await startLocal(undefined, { storeDsn });
  replicas.push(b);
  // b has tried the lock at least once: its election session is idle after pg_try_advisory_lock, holding none.
  const bTried = async () =>
    (
      await sql<{ n: number }>(
        storeDsn,
        `SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE application_name = 'postgres-apiserver leader' AND state = 'idle' AND query LIKE '%pg_try_advisory_lock%'
      AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
      )
    )[0]!.n >= 1;
  t.true(await eventually(bTried, 30_000), 'the second replica tried to lead');
  t.true(a.isLeader());
  t.false(b.isLeader(), 'never two leaders');

  t.is((await a.kubectl(['create', 'namespace', 'shared'])).code, 0);
  t.is((await b.kubectl(['get', 'namespace', 'shared'])).code, 0, 'what one replica writes, the other serves');

  const stoppedAt = Date.now();
  await a.stop();
  replicas.shift();
  t.true(await eventually(() => b.isLeader(), 15_000), 'the other replica takes over');
  t.log(`took over after ${Date.now() - stoppedAt} ms`);
});
