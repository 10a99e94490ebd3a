// A connection whose backend is terminated (pg_terminate_backend, a server shutdown) while a caller holds it:
// the call under way fails, the process does not (pg throws an 'error' event nobody listens to), and the
// store answers Unavailable (503) until its server is back.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startEmbeddedPostgres } from '../../storage/embedded-postgres.ts';
import { guardedPool, isConnectionFault } from '../../storage/connections.ts';
import { connectionConfig } from '../../storage/catalog/dsn.ts';
import { ObjectStore, Unavailable } from '../../storage/objects/store.ts';
import { sql, startTestServer, type TestServer } from '../support/postgres.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer('pg17');
});
test.after.always(async () => server?.stop());

test('a checked-out pool connection terminated by the server fails its query and leaves the process running', async (t) => {
  const pool = guardedPool({ ...connectionConfig(server.superuserDsn), application_name: 'terminated-here' });
  t.teardown(() => pool.end());
  const client = await pool.connect();
  const [backend] = await sql<{ pid: number }>(
    server.superuserDsn,
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'terminated-here'",
  );
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  const running = client.query('SELECT pg_sleep(30)');
  await sql(server.superuserDsn, 'SELECT pg_terminate_backend($1)', { params: [backend!.pid] });
  const error = await t.throwsAsync(running);
  t.true(isConnectionFault(error), String(error));
  await ended; // pg has emitted 'error' for the lost connection by now
  client.release(true);
  t.deepEqual((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the pool serves with a new connection');
});

test('a store whose server is stopped answers Unavailable, and serves again once the server is back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'store-outage-'));
  chmodSync(dir, 0o755);
  let own = await startEmbeddedPostgres({ major: 17, dir });
  t.teardown(async () => {
    await own.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = await ObjectStore.open(own.dsn);
  t.teardown(() => store.close());
  await own.stop();
  const error = await t.throwsAsync(store.get('/secrets', 'default', 'x'));
  t.true(error instanceof Unavailable, String(error));
  t.like(error, { reason: 'ServiceUnavailable', code: 503 });
  own = await startEmbeddedPostgres({ major: 17, dir, port: own.port });
  await t.throwsAsync(store.get('/secrets', 'default', 'x'), { name: 'NotFound' });
});
