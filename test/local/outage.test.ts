// The embedded PostgreSQL server (the store and the target) stopped twice by hand under a steady stream of
// requests: the process stays up (an unhandled pg 'error' would end this test's worker), answers 503 with
// Retry-After while the store is away (never 500), starts PostgreSQL again by itself, and serves as before.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import { binDir } from '../../storage/embedded-postgres.ts';
import type { Response } from '../support/http.ts';
import { rawClient } from '../support/rawclient.ts';
import { eventually, startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { sql } from '../support/postgres.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
});
test.after.always(async () => local?.stop());

/** `pg_ctl stop -m fast`, as a user would (as the unprivileged owner of the data directory when run as root). */
function stopPostgresByHand(dataDir: string): void {
  const pgCtl = [join(binDir(17), 'pg_ctl'), '-D', join(dataDir, 'postgres', 'data'), 'stop', '-m', 'fast', '-w'];
  const asRoot = process.getuid?.() === 0;
  const result = spawnSync(asRoot ? 'runuser' : pgCtl[0]!, asRoot ? ['-u', 'nobody', '--', ...pgCtl] : pgCtl.slice(1), {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`pg_ctl stop failed: ${result.stderr}`);
}

const roles = '/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles';

test('PostgreSQL stopped twice under requests: the server stays up, answers 503 with Retry-After meanwhile, starts PostgreSQL again and serves', async (t) => {
  const request = rawClient(local.kubeconfig);
  const answers: Response[] = [];
  let running = true;
  // One request every 100 ms, a list or a get, for as long as the test lasts.
  const traffic = (async () => {
    for (let i = 0; running; i++) {
      answers.push(
        await request(i % 2 ? roles : `${roles}/app-user`).catch((error: Error) => ({
          status: 0,
          headers: {},
          text: error.message,
          json: () => undefined,
        })),
      );
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  t.teardown(() => {
    running = false;
    return traffic;
  });

  for (const round of [1, 2]) {
    const before = answers.length;
    stopPostgresByHand(local.dataDir);
    const since = () => answers.slice(before);
    t.true(await eventually(async () => since().some((a) => a.status === 503), 30_000), `round ${round}: no 503 while the store was away`);
    const unavailable = since().find((a) => a.status === 503)!;
    t.is(unavailable.headers['retry-after'], '1');
    t.like(unavailable.json(), { kind: 'Status', reason: 'ServiceUnavailable', code: 503, details: { retryAfterSeconds: 1 } });
    t.is((await request('/livez')).status, 200, 'the process and its loops are alive');
    t.true(
      await eventually(
        async () =>
          since().some(
            (a, i) =>
              a.status === 200 &&
              since()
                .slice(0, i)
                .some((b) => b.status === 503),
          ),
        60_000,
      ),
      `round ${round}: never served again`,
    );
    t.is((await request('/readyz')).status, 200);
  }
  const statuses = new Set(answers.map((a) => a.status));
  t.deepEqual([...statuses].sort(), [200, 503], `every answer was 200 or 503: ${[...statuses].join(', ')}`);

  // Nothing is lost and writes work again: the guide's role is still there, and a new one reaches PostgreSQL.
  const created = await request(roles, 'POST', {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name: 'after-outage', namespace: 'default' },
    spec: { roleName: 'after_outage', databaseClusterRef: { name: 'main-cluster' } },
  });
  t.is(created.status, 201, created.text);
  t.is((await request(`${roles}/app-user`)).status, 200);
  t.deepEqual(await sql(local.postgresDsn, "SELECT rolname FROM pg_roles WHERE rolname = 'after_outage'"), [{ rolname: 'after_outage' }]);
});
