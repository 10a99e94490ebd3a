// Server-side apply in local mode, driven by the real kubectl: the guide applied with --server-side (our kinds and
// the core Secrets), applied again, kubectl diff against it, and a second field manager in conflict.
import test from 'ava';
import { guideManifests, startLocal, type LocalServer } from '../support/local.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocal();
});
test.after.always(async () => local?.stop());

const role = 'databaserole.postgres.databases.dinhloc.dev/app-user';

/** The guide's DatabaseRole alone, with a connection limit when given. */
function roleManifest(connectionLimit?: number): string {
  const manifest = guideManifests(local.postgresDsn)
    .split(/^---$/m)
    .find((doc) => doc.includes('kind: DatabaseRole'))!;
  return connectionLimit === undefined
    ? manifest
    : manifest.replace('  roleName: my_app_user\n', `  roleName: my_app_user\n  connectionLimit: ${connectionLimit}\n`);
}

async function getJson(...args: string[]) {
  const { stdout, stderr, code } = await local.kubectl(['get', ...args, '-o', 'json', '--show-managed-fields']);
  if (code !== 0) throw new Error(stderr);
  return JSON.parse(stdout);
}

test.serial('kubectl apply --server-side creates the guide, kubectl owning the fields it applied', async (t) => {
  const applied = await local.kubectl(['apply', '--server-side', '-f', '-'], guideManifests(local.postgresDsn));
  t.is(applied.code, 0, applied.stderr);
  for (const name of [
    'secret/postgres-connection',
    'databasecluster.postgres.databases.dinhloc.dev/main-cluster',
    'database.postgres.databases.dinhloc.dev/my-app-db',
    'secret/app-user-password',
    role,
  ]) {
    t.true(applied.stdout.includes(`${name} serverside-applied`), applied.stdout);
  }
  const { metadata } = await getJson('pgrole', 'app-user');
  t.is(metadata.managedFields.length, 1);
  t.like(metadata.managedFields[0], {
    manager: 'kubectl',
    operation: 'Apply',
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    fieldsType: 'FieldsV1',
  });
  t.deepEqual(metadata.managedFields[0].fieldsV1['f:spec']['f:permissions'], {
    'k:{"database":"my_app_db_production"}': {
      '.': {},
      'f:database': {},
      'f:schemas': {
        'k:{"name":"public"}': {
          '.': {},
          'f:name': {},
          'f:privileges': {},
          'f:tables': { 'k:{"name":"*"}': { '.': {}, 'f:name': {}, 'f:privileges': {} } },
        },
      },
    },
  });
  const secret = await getJson('secret', 'app-user-password');
  t.is(Buffer.from(secret.data.password, 'base64').toString(), 'strong-password-here');
  t.deepEqual(secret.metadata.managedFields[0].fieldsV1, { 'f:stringData': { 'f:password': {} }, 'f:type': {} });
});

test.serial('applying the guide again changes nothing', async (t) => {
  const kinds = ['databaseclusters', 'databases', 'databaseroles'];
  const before = await Promise.all(kinds.map((kind) => getJson(kind, '-A')));
  const again = await local.kubectl(['apply', '--server-side', '-f', '-'], guideManifests(local.postgresDsn));
  t.is(again.code, 0, again.stderr);
  const after = await Promise.all(kinds.map((kind) => getJson(kind, '-A')));
  const shown = (list: { items: { metadata: Record<string, unknown>; spec: unknown }[] }) =>
    list.items.map((o) => [o.metadata.generation, o.spec, o.metadata.managedFields]);
  t.deepEqual(after.map(shown), before.map(shown));
});

test.serial('kubectl diff --server-side shows the change of the DatabaseRole', async (t) => {
  const diff = await local.kubectl(['diff', '--server-side', '-f', '-'], roleManifest(10));
  t.is(diff.code, 1, diff.stderr);
  t.regex(diff.stdout, /^\+ {2}connectionLimit: 10$/m);
  t.regex(diff.stdout, /^- {2}generation: 1$/m);
  t.notRegex(diff.stdout, /annotations/);
});

// A dry-run write answers with the object as its strategy decorates it, and the DatabaseRole's decorate persists
// the status it computes (services.ts persistStatus) — with the dry-run object's spec.
test.serial('kubectl diff leaves the DatabaseRole as it was, and the client-side diff shows the change too', async (t) => {
  t.false('connectionLimit' in (await getJson('pgrole', 'app-user')).spec, 'the server-side diff changed nothing');
  const diff = await local.kubectl(['diff', '-f', '-'], roleManifest(10));
  t.is(diff.code, 1, diff.stderr);
  t.regex(diff.stdout, /^\+ {2}connectionLimit: 10$/m);
  t.false('connectionLimit' in (await getJson('pgrole', 'app-user')).spec, 'the client-side diff changed nothing');
});

test.serial('once the change is applied, kubectl diff (client-side and --server-side) finds nothing', async (t) => {
  const applied = await local.kubectl(['apply', '--server-side', '-f', '-'], roleManifest(10));
  t.is(applied.code, 0, applied.stderr);
  t.is((await getJson('pgrole', 'app-user')).spec.connectionLimit, 10);
  for (const args of [
    ['diff', '--server-side', '-f', '-'],
    ['diff', '-f', '-'],
  ]) {
    const diff = await local.kubectl(args, roleManifest(10));
    t.is(diff.code, 0, `${args.join(' ')}: ${diff.stdout}${diff.stderr}`);
    t.is(diff.stdout, '');
  }
});

test.serial('a second field manager changing connectionLimit conflicts; --force-conflicts takes the field over', async (t) => {
  const other = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: app-user, namespace: default}
spec: {connectionLimit: 20}
`;
  const refused = await local.kubectl(['apply', '--server-side', '--field-manager=other', '-f', '-'], other);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.spec\.connectionLimit/);
  t.is((await getJson('pgrole', 'app-user')).spec.connectionLimit, 10);

  const forced = await local.kubectl(['apply', '--server-side', '--field-manager=other', '--force-conflicts', '-f', '-'], other);
  t.is(forced.code, 0, forced.stderr);
  t.true(forced.stdout.includes(`${role} serverside-applied`));
  const { spec, metadata } = await getJson('pgrole', 'app-user');
  t.is(spec.connectionLimit, 20);
  t.is(spec.roleName, 'my_app_user', 'the rest stays as kubectl applied it');
  const owners = Object.fromEntries(
    metadata.managedFields.map((e: { manager: string; fieldsV1: { 'f:spec': object } }) => [e.manager, Object.keys(e.fieldsV1['f:spec'])]),
  );
  t.deepEqual(owners.other, ['f:connectionLimit']);
  t.false(owners.kubectl.includes('f:connectionLimit'));

  const back = await local.kubectl(['apply', '--server-side', '-f', '-'], roleManifest(10));
  t.not(back.code, 0);
  t.regex(back.stderr, /conflict with "other": \.spec\.connectionLimit/);
});

test.serial(
  'kubectl create and kubectl replace record who set each field: a later apply of another value conflicts with them',
  async (t) => {
    const created = await local.kubectl(
      ['create', '-f', '-'],
      `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: made-by-create, namespace: default}
spec: {roleName: made_by_create, databaseClusterRef: {name: main-cluster}, connectionLimit: 3}
`,
    );
    t.is(created.code, 0, created.stderr);
    const entries = (await getJson('pgrole', 'made-by-create')).metadata.managedFields as {
      manager: string;
      operation: string;
      fieldsV1: { 'f:spec': object };
    }[];
    t.like(
      entries.find((e) => e.manager === 'kubectl-create'),
      { operation: 'Update' },
    );
    t.true(Object.keys(entries.find((e) => e.manager === 'kubectl-create')!.fieldsV1['f:spec']).includes('f:connectionLimit'));

    const conflicting = await local.kubectl(
      ['apply', '--server-side', '--field-manager=platform', '-f', '-'],
      `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: made-by-create, namespace: default}
spec: {connectionLimit: 9}
`,
    );
    t.not(conflicting.code, 0);
    t.regex(conflicting.stderr, /conflict with "kubectl-create"/);

    const current = await getJson('pgrole', 'made-by-create');
    current.spec.connectionLimit = 4;
    delete current.metadata.managedFields;
    const replaced = await local.kubectl(['replace', '-f', '-'], JSON.stringify(current));
    t.is(replaced.code, 0, replaced.stderr);
    const after = (await getJson('pgrole', 'made-by-create')).metadata.managedFields as {
      manager: string;
      fieldsV1: { 'f:spec': object };
    }[];
    t.true(
      Object.keys(after.find((e) => e.manager === 'kubectl-replace')!.fieldsV1['f:spec']).includes('f:connectionLimit'),
      'kubectl replace took connectionLimit over',
    );
  },
);
