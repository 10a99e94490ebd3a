// Role and database names belong to one object per PostgreSQL server, claimed in the store's transaction that
// stores the object, before any SQL runs: racing creates leave exactly one object and one role, whichever
// namespace or DatabaseCluster they come through, and the winner keeps its object.
import test from 'ava';
import { eventually, extraCluster, startSharedLocal, type LocalServer } from '../support/local.ts';
import { sql, unique } from '../support/postgres.ts';
import { rawClient, type RawRequest } from '../support/rawclient.ts';

let local: LocalServer;
let request: RawRequest;

const group = '/apis/postgres.databases.dinhloc.dev/v1alpha1';

test.before(async () => {
  // A second DatabaseCluster reaching the same server through another database: names are the server's.
  local = await startSharedLocal();
  request = rawClient(local.kubeconfig);
  await sql(local.postgresDsn, 'CREATE DATABASE second_door');
  const secondDsn = new URL(local.postgresDsn);
  secondDsn.pathname = '/second_door';
  const applied = await local.kubectl(['apply', '-f', '-'], extraCluster('second-door', secondDsn.toString()));
  if (applied.code !== 0) throw new Error(applied.stderr);
});
test.after.always(async () => local?.stop());

function role(namespace: string, name: string, roleName: string, cluster = 'main-cluster') {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name, namespace },
    spec: { roleName, databaseClusterRef: { name: cluster } },
  };
}

const rolesLike = async (prefix: string) =>
  (
    await sql<{ rolname: string }>(local.postgresDsn, 'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1', {
      params: [prefix],
    })
  ).map((r) => r.rolname);

test('10 concurrent creates of one object, each naming another role: one 201, nine 409, and exactly one role exists', async (t) => {
  const prefix = unique('race');
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      request(`${group}/namespaces/default/databaseroles`, 'POST', role('default', 'racer', `${prefix}_${i}`)),
    ),
  );
  t.deepEqual(answers.map((a) => a.status).sort(), [201, ...Array(9).fill(409)]);
  const winner = answers.find((a) => a.status === 201)!.json();
  t.deepEqual(await rolesLike(prefix), [winner.spec.roleName], 'the losers ran no SQL');
});

test('two namespaces racing for one role name: exactly one object and one role, and the winner keeps using its object', async (t) => {
  const roleName = unique('contested');
  const [a, b] = await Promise.all([
    request(`${group}/namespaces/default/databaseroles`, 'POST', role('default', 'contested', roleName)),
    request(`${group}/namespaces/team-b/databaseroles`, 'POST', role('team-b', 'contested', roleName)),
  ]);
  t.deepEqual([a.status, b.status].sort(), [201, 409], `${a.text}\n${b.text}`);
  const [winner, lost] = a.status === 201 ? ['default', b] : ['team-b', a];
  t.regex(
    lost.json().message,
    new RegExp(
      `role "${roleName}" on this PostgreSQL server belongs to databaseroles\\.postgres\\.databases\\.dinhloc\\.dev "${winner}/contested"`,
    ),
  );
  t.deepEqual(await rolesLike(roleName), [roleName]);
  t.is((await request(`${group}/namespaces/${winner}/databaseroles/contested`)).status, 200);
  // A merge patch, as kubectl patch sends it: no resourceVersion to race with the reconciler's status writes.
  const updated = await request(
    `${group}/namespaces/${winner}/databaseroles/contested`,
    'PATCH',
    { spec: { connectionLimit: 3 } },
    'application/merge-patch+json',
  );
  t.is(updated.status, 200, `the winner updates its own object: ${updated.text}`);
  t.deepEqual(await sql(local.postgresDsn, 'SELECT rolconnlimit AS limit FROM pg_roles WHERE rolname = $1', { params: [roleName] }), [
    { limit: 3 },
  ]);
});

test('a second DatabaseCluster reaching the same server is no way around a claim: 409, and the role keeps its owner', async (t) => {
  const roleName = unique('doubled');
  t.is((await request(`${group}/namespaces/default/databaseroles`, 'POST', role('default', 'first-door', roleName))).status, 201);
  const second = await request(`${group}/namespaces/team-b/databaseroles`, 'POST', role('team-b', 'second-door', roleName, 'second-door'));
  t.is(second.status, 409, second.text);
  t.regex(
    second.json().message,
    /on this PostgreSQL server belongs to databaseroles\.postgres\.databases\.dinhloc\.dev "default\/first-door"/,
  );
  t.is((await request(`${group}/namespaces/team-b/databaseroles/second-door`)).status, 404);
});

test('a namespace that does not exist, or that a DatabaseCluster does not admit, learns nothing of who holds a role name: 404 and 403, never the 409 naming the holder', async (t) => {
  const roleName = unique('held');
  t.is((await request(`${group}/namespaces/default/databaseroles`, 'POST', role('default', 'holder', roleName))).status, 201);
  const applied = await local.kubectl(
    ['apply', '-f', '-'],
    extraCluster('selective-door', local.postgresDsn, ', allowedNamespaces: {from: Selector, selector: {matchLabels: {team: a}}}'),
  );
  t.is(applied.code, 0, applied.stderr);
  const missing = await request(`${group}/namespaces/no-such-team/databaseroles`, 'POST', role('no-such-team', 'probe', roleName));
  t.is(missing.status, 404, missing.text);
  const notAdmitted = await request(
    `${group}/namespaces/team-b/databaseroles`,
    'POST',
    role('team-b', 'probe', roleName, 'selective-door'),
  );
  t.is(notAdmitted.status, 403, notAdmitted.text);
  for (const answer of [missing, notAdmitted]) t.notRegex(answer.text, /holder|belongs to/);
});

test('a dry run checks the claim and takes none: the name stays free for a real create', async (t) => {
  const roleName = unique('rehearsed');
  const dry = await request(`${group}/namespaces/default/databaseroles?dryRun=All`, 'POST', role('default', 'rehearsed', roleName));
  t.is(dry.status, 201, dry.text);
  t.deepEqual(await rolesLike(roleName), []);
  t.is((await request(`${group}/namespaces/team-b/databaseroles`, 'POST', role('team-b', 'rehearsed', roleName))).status, 201);
  const taken = await request(`${group}/namespaces/default/databaseroles?dryRun=All`, 'POST', role('default', 'rehearsed', roleName));
  t.is(taken.status, 409, 'a dry run meets the claim the real create would');
});

test('deleting the object with reclaimPolicy Delete drops the role and releases its claim: another namespace may then claim the name', async (t) => {
  const roleName = unique('released');
  t.is(
    (
      await request(`${group}/namespaces/default/databaseroles`, 'POST', {
        ...role('default', 'released', roleName),
        spec: { ...role('default', 'released', roleName).spec, reclaimPolicy: 'Delete' },
      })
    ).status,
    201,
  );
  t.is((await request(`${group}/namespaces/team-b/databaseroles`, 'POST', role('team-b', 'released', roleName))).status, 409);
  t.is((await request(`${group}/namespaces/default/databaseroles/released`, 'DELETE')).status, 200);
  t.deepEqual(await rolesLike(roleName), []);
  t.is((await request(`${group}/namespaces/team-b/databaseroles`, 'POST', role('team-b', 'released', roleName))).status, 201);
  t.deepEqual(await rolesLike(roleName), [roleName]);
});

function database(namespace: string, name: string, spec: Record<string, unknown>, cluster = 'main-cluster') {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'Database',
    metadata: { name, namespace },
    spec: { databaseClusterRef: { name: cluster }, ...spec },
  };
}

const databaseExists = async (name: string) =>
  (await sql(local.postgresDsn, 'SELECT 1 FROM pg_database WHERE datname = $1', { params: [name] })).length === 1;

test('a Database PostgreSQL refuses (a locale it does not know): 422 with its reason, neither object nor claim kept, and the fixed manifest is created', async (t) => {
  const name = unique('refused');
  const refused = await request(
    `${group}/namespaces/default/databases`,
    'POST',
    database('default', 'refused', { name, lcCollate: 'xx_XX.bogus', lcCtype: 'xx_XX.bogus', template: 'template0' }),
  );
  t.is(refused.status, 422, refused.text);
  t.like(refused.json(), { reason: 'Invalid', details: { causes: [{ reason: 'FieldValueInvalid', field: 'spec' }] } });
  t.regex(refused.json().message, /PostgreSQL refused it while creating database .*locale name: "xx_XX\.bogus"/);
  t.is((await request(`${group}/namespaces/default/databases/refused`)).status, 404);
  t.false(await databaseExists(name));
  // Another namespace may take the name: the refused create held no claim on it.
  const fixed = await request(`${group}/namespaces/team-b/databases`, 'POST', database('team-b', 'refused', { name }));
  t.is(fixed.status, 201, fixed.text);
  t.true(await databaseExists(name));
});

test('an update PostgreSQL refuses before any of its SQL ran (an allowed extension the server does not have): 422, and the stored spec stays as it was', async (t) => {
  const applied = await local.kubectl(
    ['apply', '-f', '-'],
    extraCluster('lenient', local.postgresDsn, ', allowedExtensions: [no_such_extension]'),
  );
  t.is(applied.code, 0, applied.stderr);
  const name = unique('extended');
  const created = await request(`${group}/namespaces/default/databases`, 'POST', database('default', 'extended', { name }, 'lenient'));
  t.is(created.status, 201, created.text);
  // A create that met a fault of the environment (a Warning) is retried by the reconciler: the update needs the database.
  t.true(
    await eventually(() => databaseExists(name), 60_000),
    `the database was not created; the create warned: ${created.headers.warning}`,
  );
  const refused = await request(
    `${group}/namespaces/default/databases/extended`,
    'PATCH',
    { spec: { extensions: ['no_such_extension'] } },
    'application/merge-patch+json',
  );
  t.is(refused.status, 422, `${refused.text}\nWarning: ${refused.headers.warning}`);
  t.regex(refused.json().message, /PostgreSQL refused it while creating extension .*"no_such_extension" is not available/);
  t.is((await request(`${group}/namespaces/default/databases/extended`)).json().spec.extensions, undefined);
});

test('48 concurrent creates of distinct roles all record their owner: no Warning, and every role exists', async (t) => {
  const prefix = unique('crowd');
  const answers = await Promise.all(
    Array.from({ length: 48 }, (_, i) =>
      request(`${group}/namespaces/default/databaseroles`, 'POST', role('default', `crowd-${i}`, `${prefix}_${i}`)),
    ),
  );
  t.deepEqual(
    answers.map((a) => a.status),
    Array(48).fill(201),
  );
  t.deepEqual(answers.map((a) => a.headers.warning).filter(Boolean), []);
  t.is((await rolesLike(prefix)).length, 48);
});

test('creates while 10 clients keep listing (each list persists the new objects’ live status): every create is 201', async (t) => {
  const prefix = unique('listed');
  let creating = true;
  const listers = Array.from({ length: 10 }, async () => {
    let lists = 0;
    while (creating) {
      const listed = await request(`${group}/namespaces/default/databaseroles`);
      if (listed.status !== 200) throw new Error(listed.text);
      lists++;
    }
    return lists;
  });
  const answers: number[] = [];
  for (let i = 0; i < 20; i++) {
    const created = await request(`${group}/namespaces/default/databaseroles`, 'POST', role('default', `listed-${i}`, `${prefix}_${i}`));
    answers.push(created.status);
  }
  creating = false;
  t.true((await Promise.all(listers)).every((lists) => lists > 0));
  t.deepEqual(answers, Array(20).fill(201));
  t.is((await rolesLike(prefix)).length, 20);
});
