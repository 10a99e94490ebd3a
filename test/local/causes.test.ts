// Conditions carry the cause of what is not done, as Argo CD and Flux read it: a False condition's reason is the
// class of the fault the last write met (TemplateNotFound, ExtensionNotAvailable, PermissionDenied, …) and its
// message is the fault's, kept in status.lastWriteError until a write succeeds. One extension the server cannot
// install blocks neither the schemas nor the other extensions, and a creation setting that never took effect
// (a template that does not exist yet) can be fixed.
import test from 'ava';
import { freePort } from '../../storage/embedded-postgres.ts';
import { eventually, extraCluster, startSharedLocal, type LocalServer } from '../support/local.ts';
import { sql, unique } from '../support/postgres.ts';

let local: LocalServer;

test.before(async () => {
  local = await startSharedLocal();
  // A cluster that reports drift and corrects nothing: a database dropped by hand stays dropped.
  const reportOnly = await local.kubectl(
    ['apply', '-f', '-'],
    extraCluster('report-only', local.postgresDsn, ', driftPolicy: Report, allowedExtensions: [no_such_extension]'),
  );
  if (reportOnly.code !== 0) throw new Error(reportOnly.stderr);
});
test.after.always(async () => local?.stop());

interface Status {
  exists?: boolean;
  schemas?: string[];
  extensions?: string[];
  lastReconcileTime?: string;
  lastWriteError?: { reason: string; message: string; time: string };
  conditions?: { type: string; status: string; reason: string; message: string }[];
}

function database(name: string, spec: string): string {
  return `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: ${name}, namespace: default}
spec: {${spec}}
`;
}

async function statusOf(kind: string, name: string): Promise<Status> {
  const got = await local.kubectl(['get', kind, name, '-n', 'default', '-o', 'json']);
  if (got.code !== 0) throw new Error(got.stderr);
  return (JSON.parse(got.stdout) as { status?: Status }).status ?? {};
}

function ready(status: Status) {
  return status.conditions?.find((c) => c.type === 'Ready');
}

async function apply(manifest: string) {
  const applied = await local.kubectl(['apply', '-f', '-'], manifest);
  if (applied.code !== 0) throw new Error(applied.stderr);
  return applied;
}

test('an extension the server does not have: the database, its schemas and its other extensions are made, and Ready names the extension', async (t) => {
  const name = unique('ext');
  const applied = await apply(
    database(
      'extensions',
      `name: ${name}, databaseClusterRef: {name: report-only}, schemas: [app], extensions: [no_such_extension, pgcrypto]`,
    ),
  );
  t.regex(applied.stderr, /no_such_extension/, 'the Warning names the extension');
  const status = await statusOf('database', 'extensions');
  t.is(status.exists, true);
  t.deepEqual(status.schemas, ['public', 'app']);
  t.true(status.extensions?.includes('pgcrypto'), JSON.stringify(status));
  t.like(ready(status), { status: 'False', reason: 'ExtensionNotAvailable' });
  t.regex(ready(status)!.message, /extension "no_such_extension"/);
  t.is(status.lastWriteError?.reason, 'ExtensionNotAvailable');
  t.truthy(status.lastReconcileTime);

  await apply(database('extensions', `name: ${name}, databaseClusterRef: {name: report-only}, schemas: [app], extensions: [pgcrypto]`));
  const fixed = await statusOf('database', 'extensions');
  t.like(ready(fixed), { status: 'True', reason: 'Ready' });
  t.is(fixed.lastWriteError, undefined, 'a write that succeeds clears the fault');
});

test('a template that does not exist: stored, Ready says TemplateNotFound, and the template can still be changed since the database was never created', async (t) => {
  const template = unique('tpl');
  const name = unique('copy');
  await apply(database('template-source', `name: ${template}, databaseClusterRef: {name: report-only}`));
  await sql(local.postgresDsn, `DROP DATABASE ${template} WITH (FORCE)`);
  const applied = await apply(database('template-copy', `name: ${name}, databaseClusterRef: {name: report-only}, template: ${template}`));
  t.regex(applied.stderr, /does not exist/);
  const status = await statusOf('database', 'template-copy');
  t.is(status.exists, false);
  t.like(ready(status), { status: 'False', reason: 'TemplateNotFound' });
  t.regex(ready(status)!.message, new RegExp(`template database "${template}" does not exist`));

  await apply(database('template-copy', `name: ${name}, databaseClusterRef: {name: report-only}, template: template0`));
  const fixed = await statusOf('database', 'template-copy');
  t.like(ready(fixed), { status: 'True', reason: 'Ready' });
  const rows = await sql<{ datname: string }>(local.postgresDsn, 'SELECT datname FROM pg_database WHERE datname = $1', { params: [name] });
  t.is(rows.length, 1);
});

test('a template change once the database exists is refused as immutable', async (t) => {
  const name = unique('fixed');
  await apply(database('created', `name: ${name}, databaseClusterRef: {name: report-only}, template: template1`));
  t.is((await statusOf('database', 'created')).exists, true);
  const changed = await local.kubectl(
    ['apply', '-f', '-'],
    database('created', `name: ${name}, databaseClusterRef: {name: report-only}, template: template0`),
  );
  t.not(changed.code, 0);
  t.regex(changed.stderr, /spec\.template.*immutable/);
});

test('a connecting user that may not create databases: Ready says PermissionDenied with what was refused', async (t) => {
  const user = unique('no_createdb');
  await sql(local.postgresDsn, `CREATE ROLE ${user} LOGIN CREATEROLE PASSWORD 'pw'`);
  const dsn = new URL(local.postgresDsn);
  dsn.username = user;
  dsn.password = 'pw';
  await apply(extraCluster('no-createdb', dsn.toString()));
  await apply(database('refused', `name: ${unique('refused')}, databaseClusterRef: {name: no-createdb}`));
  const status = await statusOf('database', 'refused');
  t.like(ready(status), { status: 'False', reason: 'PermissionDenied' });
  t.regex(ready(status)!.message, /creating database .*permission denied/);
});

test('a server that refuses connections: the objects on it say ConnectionRefused', async (t) => {
  const dsn = new URL(local.postgresDsn);
  dsn.port = String(await freePort());
  await apply(extraCluster('refusing', dsn.toString()));
  await apply(database('unreachable', `name: ${unique('unreachable')}, databaseClusterRef: {name: refusing}`));
  t.true(await eventually(async () => ready(await statusOf('database', 'unreachable'))?.reason === 'ConnectionRefused'));
  t.regex(ready(await statusOf('database', 'unreachable'))!.message, /ECONNREFUSED/);
});
