// A DatabaseCluster that cannot reach its server is accepted, and says why at once: a Warning to whoever applies
// it, an Event, and the Ready condition, each with a reason per kind of fault (the usage guide's placeholder host,
// a wrong password, a closed port, a missing Secret).
import test from 'ava';
import { freePort } from '../../storage/embedded-postgres.ts';
import { eventually, extraCluster, startLocal, type LocalServer } from '../support/local.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocal();
});
test.after.always(async () => local?.stop());

function withPassword(dsn: string, password: string): string {
  const url = new URL(dsn);
  url.password = password;
  return url.toString();
}

async function withPort(dsn: string): Promise<string> {
  const url = new URL(dsn);
  url.port = String(await freePort());
  return url.toString();
}

const cases: { name: string; cluster: string; dsn: () => Promise<string> | string; reason: string; message: RegExp }[] = [
  {
    name: "the usage guide's placeholder host",
    cluster: 'placeholder',
    dsn: () => 'postgres://postgres:password@postgres-host:5432/postgres?sslmode=disable',
    reason: 'HostNotFound',
    message: /postgres-host/,
  },
  {
    name: 'a wrong password',
    cluster: 'wrong-password',
    dsn: () => withPassword(local.postgresDsn, 'not-the-password'),
    reason: 'AuthenticationFailed',
    message: /password authentication failed/,
  },
  {
    name: 'a port nothing listens on',
    cluster: 'closed-port',
    dsn: () => withPort(local.postgresDsn),
    reason: 'ConnectionRefused',
    message: /ECONNREFUSED/,
  },
];

for (const c of cases) {
  test(`${c.name}: a Warning at apply, an Event and the Ready condition, with reason ${c.reason}`, async (t) => {
    const applied = await local.kubectl(['apply', '-f', '-'], extraCluster(c.cluster, await c.dsn()));
    t.is(applied.code, 0, applied.stderr);
    t.regex(applied.stderr, new RegExp(`Warning: DatabaseCluster "${c.cluster}" cannot reach its server yet \\(${c.reason}\\)`));
    t.notRegex(applied.stderr, /not-the-password/, 'never the password');
    // Events are sent in the background: the apply may answer before its Event is stored.
    const messages = async () =>
      (
        await local.kubectl([
          'get',
          'events',
          '-A',
          '--field-selector',
          `involvedObject.name=${c.cluster},reason=${c.reason}`,
          '-o',
          'jsonpath={.items[*].message}',
        ])
      ).stdout;
    t.true(await eventually(async () => c.message.test(await messages())), await messages());
    const ready = async () =>
      JSON.parse(
        (await local.kubectl(['get', 'pgcluster', c.cluster, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")]}'])).stdout || '{}',
      );
    t.true(await eventually(async () => (await ready()).reason === c.reason), JSON.stringify(await ready()));
    t.like(await ready(), { status: 'False' });
  });
}

test('a missing Secret: the Warning names it, and a dry run warns without an Event', async (t) => {
  const cluster =
    'apiVersion: postgres.databases.dinhloc.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: {name: secretless}\nspec: {connection: {name: nowhere, namespace: default}}\n';
  const rehearsed = await local.kubectl(['apply', '--dry-run=server', '-f', '-'], cluster);
  t.regex(
    rehearsed.stderr,
    /Warning: DatabaseCluster "secretless" cannot reach its server yet \(SecretNotFound\): Secret default\/nowhere does not exist/,
  );
  // Events are sent in order: once the real apply's Event is stored, a dry run's would have been stored before it.
  t.is((await local.kubectl(['apply', '-f', '-'], cluster)).code, 0);
  const events = async () =>
    (await local.kubectl(['get', 'events', '-A', '--field-selector', 'involvedObject.name=secretless,reason=SecretNotFound', '-o', 'json']))
      .stdout;
  t.true(await eventually(async () => JSON.parse(await events()).items.length > 0), await events());
  const [event, ...more] = JSON.parse(await events()).items;
  t.deepEqual(more, [], 'a dry run records no Event');
  t.like(event, { type: 'Warning', involvedObject: { kind: 'DatabaseCluster', name: 'secretless' } });
});

test('the same Warning again is counted on one Event, as client-go aggregates repeats; LAST SEEN is an age', async (t) => {
  const manifest = extraCluster('repeated', 'postgres://postgres:password@postgres-host:5432/postgres?sslmode=disable');
  t.is((await local.kubectl(['apply', '-f', '-'], manifest)).code, 0);
  // Two more writes of the cluster (an unchanged apply sends none): each warns again.
  for (const value of ['1', '2'])
    t.is((await local.kubectl(['annotate', '--overwrite', 'pgcluster', 'repeated', `touched=${value}`])).code, 0);
  const listed = async () =>
    JSON.parse(
      (await local.kubectl(['get', 'events', '-A', '--field-selector', 'involvedObject.name=repeated,reason=HostNotFound', '-o', 'json']))
        .stdout,
    );
  const counts = async () => JSON.stringify((await listed()).items.map((e: { count: number }) => e.count));
  // Events are sent in the background: wait for the third to be counted, and see that it was counted on one.
  t.true(await eventually(async () => (await counts()) === '[3]'), await counts());
  const events = await listed();
  // The Event names the resourceVersion the cluster had when it was first recorded: a real one, never "undefined".
  const recordedAt = events.items[0].involvedObject.resourceVersion as string;
  t.regex(recordedAt, /^\d+$/);
  const current = (await local.kubectl(['get', 'pgcluster', 'repeated', '-o', 'jsonpath={.metadata.resourceVersion}'])).stdout;
  t.true(BigInt(recordedAt) < BigInt(current), `${recordedAt} < ${current}`);
  const table = await local.kubectl(['get', 'events', '-A', '--field-selector', 'involvedObject.name=repeated']);
  t.regex(table.stdout.split('\n')[1]!, /^\S+\s+\d+s\s+Warning\s+HostNotFound/, table.stdout);
});
