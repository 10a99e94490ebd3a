// Which loops a Secret change nudges, against a real object store: the cluster of each DatabaseRole whose
// spec.password names the Secret and of each DatabaseCluster whose spec.connection does, none for a Secret
// nobody names; objects created or deleted later count; a gap in the Secret watch nudges every loop. The same
// feed tells which roles and databases come and go.
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { storeCore } from '../../reconcile/kinds/core.ts';
import type { ObjectStore } from '../../storage/objects/store.ts';
import { SecretTriggers, type ManagedChange } from '../../reconcile/secrets.ts';
import { clusters, roles, secrets, storeSuite, until } from '../objects/support.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { SecretChanges } from '../../storage/kubernetes/types.ts';

const suite = storeSuite(test);
const databasesResource = 'postgres.databases.dinhloc.dev/databases';

function cluster(name: string, secret: string): KubeObject {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseCluster',
    metadata: { name },
    spec: { connection: { name: secret, namespace: 'default' } },
  };
}

function passwordRole(name: string, namespace: string, secret: string, clusterName: string): KubeObject {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name, namespace },
    spec: { roleName: name.replaceAll('-', '_'), password: { name: secret, key: 'password' }, databaseClusterRef: { name: clusterName } },
  };
}

function secret(name: string, namespace: string, value: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'Opaque',
    data: { password: Buffer.from(value).toString('base64') },
  };
}

/** Triggers on the store's own Secrets (local mode's), recording each nudge: cluster names, or 'every loop'. */
async function triggers(t: ExecutionContext, store: ObjectStore, watchSecrets?: (changes: SecretChanges) => { stop(): void }) {
  const nudges: string[][] = [];
  const changes: ManagedChange[] = [];
  const core = { ...storeCore(store), ...(watchSecrets ? { watchSecrets } : {}) };
  const started = new SecretTriggers(
    store,
    core,
    (clusters) => nudges.push(clusters ? [...clusters].sort() : ['every loop']),
    pino({ level: 'silent' }),
    (change) => changes.push(change),
  );
  t.teardown(() => started.stop());
  await started.start();
  return { started, nudges, changes };
}

/** Changes a Secret's value: a change the Secret watch tells. */
async function touch(store: ObjectStore, name: string): Promise<void> {
  await store.update(secrets, {
    ...(await store.get(secrets, 'default', name)),
    data: { password: Buffer.from(String(Math.random())).toString('base64') },
  });
}

/**
 * Once start() has resolved, the Secret watch may still be opening (it starts from the moment it opens, and
 * nudges every loop then, for what came before): the probe Secret, which only the cluster `probe` names,
 * is changed until its nudge comes. Those nudges are told apart from the others by that cluster.
 */
async function whenFollowing(store: ObjectStore, nudges: string[][]): Promise<void> {
  await until('the Secret watch to follow', async () => {
    if (nudges.some((n) => n.join() === 'probe')) return true;
    await touch(store, 'probe-dsn');
    return false;
  });
}

/**
 * The nudges a Secret write causes: a change to the Secret `west` uses follows it, and the feed delivers changes
 * in order, so once `west` is nudged the write has been seen.
 */
async function nudgesAfter(store: ObjectStore, nudges: string[][], write: () => Promise<unknown>): Promise<string[][]> {
  await whenFollowing(store, nudges);
  const before = nudges.length;
  await write();
  await touch(store, 'west-dsn');
  await until('the marker Secret to nudge west', () => nudges.slice(before).some((n) => n.join() === 'west'));
  return nudges.slice(before, -1).filter((n) => n.join() !== 'probe');
}

async function arrange(store: ObjectStore): Promise<void> {
  await store.create(secrets, secret('west-dsn', 'default', 'postgres://west'));
  await store.create(secrets, secret('probe-dsn', 'default', 'postgres://probe'));
  await store.create(clusters, cluster('west', 'west-dsn'));
  await store.create(clusters, cluster('probe', 'probe-dsn'));
  await store.create(clusters, cluster('east', 'east-dsn'));
  await store.create(roles, passwordRole('app-user', 'team-a', 'app-password', 'east'));
  await store.create(roles, passwordRole('other-user', 'team-b', 'app-password', 'west'));
}

test('starting nudges every loop once the Secret watch is open, for what changed while nobody followed', async (t) => {
  const { store } = await suite.open(t);
  await arrange(store);
  const { nudges } = await triggers(t, store);
  await until('the first nudge', () => nudges.length > 0);
  t.deepEqual(nudges, [['every loop']]);
});

test('a Secret changed after start() but before the watch opened is not missed: the nudge waits for the watch to open', async (t) => {
  const { store } = await suite.open(t);
  await arrange(store);
  let changes: SecretChanges | undefined;
  const { nudges } = await triggers(t, store, (given) => {
    changes = given;
    return { stop: () => undefined };
  });
  t.deepEqual(nudges, [], 'no pass before the watch can tell what comes after it');
  changes!.following!(true);
  t.deepEqual(nudges, [['every loop']], 'the pass that sees what changed meanwhile');
  changes!.following!(false);
  changes!.following!(true);
  t.deepEqual(nudges, [['every loop']], 'a renewed watch resumes where it was: no pass');
});

test('a password Secret nudges the cluster of the roles of its namespace that name it; a Secret nobody names nudges none', async (t) => {
  const { store } = await suite.open(t);
  await arrange(store);
  const { nudges } = await triggers(t, store);
  t.deepEqual(await nudgesAfter(store, nudges, () => store.create(secrets, secret('app-password', 'team-a', 'first'))), [['east']]);
  t.deepEqual(await nudgesAfter(store, nudges, () => store.create(secrets, secret('default-token', 'team-a', 'unrelated'))), [[]]);
  t.deepEqual(await nudgesAfter(store, nudges, () => store.delete(secrets, 'team-a', 'app-password')), [['east']]);
});

test('a DSN Secret nudges the cluster whose spec.connection names it', async (t) => {
  const { store } = await suite.open(t);
  await arrange(store);
  const { nudges } = await triggers(t, store);
  t.deepEqual(await nudgesAfter(store, nudges, () => store.create(secrets, secret('east-dsn', 'default', 'postgres://east'))), [['east']]);
});

test('objects created, changed or deleted after the start count', async (t) => {
  const { store } = await suite.open(t);
  await arrange(store);
  const { nudges } = await triggers(t, store);
  await store.create(roles, passwordRole('late-user', 'team-a', 'late-password', 'west'));
  const east = await store.get(clusters, '', 'east');
  await store.update(clusters, { ...east, spec: { connection: { name: 'late-password', namespace: 'team-a' } } });
  await store.delete(roles, 'team-a', 'app-user');
  t.deepEqual(await nudgesAfter(store, nudges, () => store.create(secrets, secret('late-password', 'team-a', 'late'))), [['east', 'west']]);
  t.deepEqual(await nudgesAfter(store, nudges, () => store.create(secrets, secret('app-password', 'team-a', 'gone'))), [[]]);
});

test('a gap the Secret watch could not replay nudges every loop; stop stops the Secret watch', async (t) => {
  const { store } = await suite.open(t);
  await arrange(store);
  let changes: SecretChanges | undefined;
  let stopped = false;
  const { started, nudges } = await triggers(t, store, (given) => {
    changes = given;
    return { stop: () => void (stopped = true) };
  });
  changes!.following!(true);
  changes!.missed();
  t.deepEqual(nudges, [['every loop'], ['every loop']]);
  started.stop();
  t.true(stopped);
});

test('DatabaseRoles and Databases created or deleted are told with their cluster and PostgreSQL name; a Database nudges its loop too', async (t) => {
  const { store } = await suite.open(t);
  await arrange(store);
  const { nudges, changes } = await triggers(t, store);
  await store.create(roles, passwordRole('new-user', 'team-a', 'app-password', 'west'));
  const database: KubeObject = {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'Database',
    metadata: { name: 'new-db', namespace: 'team-a' },
    spec: { name: 'new_db', databaseClusterRef: { name: 'east' } },
  };
  await store.create(databasesResource, database);
  await store.delete(roles, 'team-a', 'new-user');
  const stored = await store.get(roles, 'team-b', 'other-user');
  await store.update(roles, { ...stored, metadata: { ...stored.metadata, labels: { changed: 'yes' } } });
  await until('the deletion to be told', () => changes.length >= 3);
  // The feed delivers in order: once the marker Secret nudges west, the update above has been seen.
  await nudgesAfter(store, nudges, () => Promise.resolve());
  t.deepEqual(changes, [
    { type: 'ADDED', kind: 'role', cluster: 'west', name: 'new_user' },
    { type: 'ADDED', kind: 'database', cluster: 'east', name: 'new_db' },
    { type: 'DELETED', kind: 'role', cluster: 'west', name: 'new_user' },
  ]);
  t.true(
    nudges.some((n) => n.join() === 'east'),
    'the Database nudged its loop',
  );
});
