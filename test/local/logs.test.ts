// What an operator reads in the log: one JSON line per failure, naming the object, the reason and when it is
// retried, with an ISO 8601 time and no key twice; a stack trace only for a bug.
import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger, failure } from '../../lib/log.ts';
import { freePort } from '../../storage/embedded-postgres.ts';
import { eventually, extraCluster, metricValue, startLocal, type LocalServer } from '../support/local.ts';

const lines: string[] = [];
let local: LocalServer;

test.before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  // The process's own logger, writing where the test reads.
  local = await startLocal(undefined, { log: createLogger('info', sink) });
});
test.after.always(async () => local?.stop());

/** A DatabaseCluster whose port nothing listens on, and a DatabaseRole on it: its every write fails. */
async function applyUnreachable(cluster: string, name: string, roleName: string): Promise<void> {
  const refusing = new URL(local.postgresDsn);
  refusing.port = String(await freePort());
  const applied = await local.kubectl(
    ['apply', '-f', '-'],
    `${extraCluster(cluster, refusing.toString())}---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${name}, namespace: default}
spec: {roleName: ${roleName}, databaseClusterRef: {name: ${cluster}}}
`,
  );
  if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
}

test.serial('an object that keeps failing: one line per failure with the object, the reason and the next retry, no stack', async (t) => {
  await applyUnreachable('refusing', 'unreachable', 'unreachable');
  const failures = () =>
    lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'reconciling failed; retried later');
  t.true(await eventually(() => failures().length >= 2, 30_000), lines.slice(-5).join('\n'));
  for (const entry of failures()) {
    t.like(entry, { level: 'warn', kind: 'DatabaseRole', object: 'default/unreachable', service: 'postgres-apiserver' });
    t.regex(String(entry.reason), /ECONNREFUSED/);
    t.regex(String(entry.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    t.regex(String(entry.retryAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.false('err' in entry, 'no stack trace for a fault of the environment');
  }
  for (const line of lines.filter((l) => l.includes('reconciling failed'))) {
    const keys = [...line.matchAll(/[{,]"([^"]+)":/g)].map((m) => m[1]);
    t.is(new Set(keys).size, keys.length, `a key twice in ${line}`);
  }
  t.is((await local.kubectl(['delete', 'databaserole', 'unreachable'])).code, 0);
});

test.serial('an object deleted while it backs off leaves nothing behind: the backoff gauge goes back to 0', async (t) => {
  await applyUnreachable('refusing-too', 'given-up', 'given_up');
  const backingOff = () => metricValue(local, 'reconcile_objects_backing_off');
  const failed = () => lines.some((line) => line.includes('default/given-up') && line.includes('reconciling failed'));
  t.true(await eventually(failed, 30_000), 'the role failed and backs off');
  t.true((await backingOff()) >= 1);
  t.is((await local.kubectl(['delete', 'databaserole', 'given-up'])).code, 0);
  t.true(await eventually(async () => (await backingOff()) === 0, 30_000), `still backing off: ${await backingOff()}`);
});

test('a bug is logged with its stack; anything else by its message', (t) => {
  t.true('err' in failure(new TypeError('x is undefined')));
  t.deepEqual(failure(new Error('connect ECONNREFUSED 127.0.0.1:1')), { reason: 'connect ECONNREFUSED 127.0.0.1:1' });
});
