// Two replicas sharing one object store: both serve the API, exactly one leads (runs the reconciler), and when
// the leader goes the other takes over.
import test from 'ava';
import { eventually, startLocal, type LocalServer } from '../support/local.ts';
import { startTestServer, type TestServer } from '../support/postgres.ts';

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
  t.true(await eventually(() => a.isLeader(), 5_000), 'the first replica leads');
  const b = await startLocal(undefined, { storeDsn });
  replicas.push(b);
  await new Promise((r) => setTimeout(r, 3_000));
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
