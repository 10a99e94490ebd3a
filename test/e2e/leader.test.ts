// Three replicas in cluster mode, one store, one kube-apiserver: all serve the API, the DatabaseClusters' loops are
// shared by the shard Leases (each cluster reconciled by the holder of its shard alone: only its log says "drift
// corrected" for the cluster's objects), the clusters are spread over more than one replica, and when a replica
// is killed the others take its shards over and correct drift on its clusters. The Lease postgres-apiserver
// elects one replica for the store's retention.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { eventually } from '../support/local.ts';
import { sql } from '../support/postgres.ts';
import { defaultShardCount, shardOf } from '../../reconcile/shards.ts';
import {
  asAdmin,
  controlPlane,
  direct,
  installServer,
  mustKubectl,
  namespace,
  type InstalledServer,
  type Replica,
} from './support/cluster.ts';

const clusters = Array.from({ length: 8 }, (_none, i) => `shard-e2e-${i}`);
const roleOf = (cluster: string) => `${cluster.replaceAll('-', '_')}_app`;

/** For each cluster: a DatabaseCluster on the one PostgreSQL server, and a login role on it. */
function manifests(dsn: string): string {
  const secret = `apiVersion: v1
kind: Secret
metadata: {name: shard-e2e-connection, namespace: default}
stringData: {connection: "${dsn}"}
`;
  const perCluster = clusters.map(
    (cluster) => `---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: ${cluster}}
spec:
  connection: {name: shard-e2e-connection, namespace: default}
  resyncInterval: 5s
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${cluster}, namespace: default}
spec:
  roleName: ${roleOf(cluster)}
  databaseClusterRef: {name: ${cluster}}
`,
  );
  return [secret, ...perCluster].join('');
}

let server: InstalledServer;
let replicas: Replica[];
test.before(async () => {
  server = await installServer();
  replicas = [server, await server.startReplica(), await server.startReplica()];
  await mustKubectl(['apply', '-f', '-'], manifests(server.postgres.superuserDsn));
  const ready = await eventually(
    async () =>
      (await asAdmin(['wait', '--for=condition=Ready', ...clusters.map((c) => `pgrole/${c}`), '-n', 'default', '--timeout=5s'])).code === 0,
    90_000,
  );
  if (!ready) throw new Error('the DatabaseRoles did not become Ready');
});
test.after.always(async () => server?.stop());

/** The identity a replica holds its Leases under, from its log. */
function identityOf(replica: Replica): string {
  const line = readFileSync(replica.logFile, 'utf8')
    .split('\n')
    .find((l) => l.includes('electing a leader by Lease'));
  if (!line) throw new Error(`${replica.logFile} names no identity`);
  return (JSON.parse(line) as { identity: string }).identity;
}

/** How many corrections of the cluster's DatabaseRole the replica's reconciler logged. */
function corrections(replica: Replica, cluster: string): number {
  return readFileSync(replica.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"drift corrected"') && l.includes(`"object":"default/${cluster}"`)).length;
}

/** Lease name → its holder, for the Leases of the namespace. */
async function holders(): Promise<Map<string, string>> {
  const { items } = JSON.parse(await mustKubectl(['get', 'leases', '-n', namespace, '-o', 'json'])) as {
    items: { metadata: { name: string }; spec: { holderIdentity?: string } }[];
  };
  return new Map(items.map((lease) => [lease.metadata.name, lease.spec.holderIdentity ?? '']));
}

const shardLease = (cluster: string) => `postgres-apiserver-shard-${shardOf(cluster, defaultShardCount)}`;

/** The replica holding the cluster's shard. */
async function ownerOf(cluster: string): Promise<Replica> {
  const holder = (await holders()).get(shardLease(cluster));
  const owner = replicas.find((r) => identityOf(r) === holder);
  if (!owner) throw new Error(`${shardLease(cluster)} is held by ${holder}, none of the replicas`);
  return owner;
}

/** Whether every shard is held by one of `alive`, each holding its fair share. */
async function sharedBy(alive: Replica[]): Promise<boolean> {
  const seen = await holders();
  const identities = alive.map(identityOf);
  const shards = Array.from({ length: defaultShardCount }, (_none, i) => seen.get(`postgres-apiserver-shard-${i}`) ?? '');
  const share = Math.ceil(defaultShardCount / alive.length);
  return (
    shards.every((holder) => identities.includes(holder)) &&
    identities.every((identity) => shards.filter((h) => h === identity).length <= share)
  );
}

const dsn = () => server.postgres.superuserDsn;
const noLogin = (cluster: string) => sql(dsn(), `ALTER ROLE ${roleOf(cluster)} NOLOGIN`);
const mayLogIn = async (cluster: string) => {
  const [row] = await sql(dsn(), `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, { params: [roleOf(cluster)] });
  return row?.rolcanlogin === true;
};

test.serial(
  'all three replicas serve the API; every shard is held by one of them, and the clusters are spread over more than one',
  async (t) => {
    const { dir } = controlPlane();
    const proxy = {
      cert: readFileSync(join(dir, 'front-proxy-client.crt'), 'utf8'),
      key: readFileSync(join(dir, 'front-proxy-client.key'), 'utf8'),
    };
    for (const replica of replicas) {
      const listed = await direct(replica, '/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles', {
        ...proxy,
        headers: [
          ['X-Remote-User', 'admin'],
          ['X-Remote-Group', 'system:masters'],
        ],
      });
      t.is(listed.status, 200, `the replica on port ${replica.port} serves`);
    }
    t.true(await eventually(() => sharedBy(replicas), 30_000), 'each replica holds its share of the shards');
    const owners = new Set(await Promise.all(clusters.map(ownerOf)));
    t.true(owners.size > 1, 'the clusters are reconciled by more than one replica');
    t.true(
      replicas.map(identityOf).includes((await holders()).get('postgres-apiserver') ?? ''),
      'one replica holds the Lease for retention',
    );
    t.regex(await mustKubectl(['get', 'lease', '-n', namespace]), /postgres-apiserver-shard-0\s+\S+_[0-9a-f]{8}\s/);
  },
);

test.serial("a NOLOGIN by hand on each cluster's role is corrected, by the holder of the cluster's shard alone", async (t) => {
  const before = new Map(replicas.map((r) => [r, new Map(clusters.map((c) => [c, corrections(r, c)]))]));
  const since = (replica: Replica, cluster: string) => corrections(replica, cluster) - (before.get(replica)?.get(cluster) ?? 0);
  for (const cluster of clusters) await noLogin(cluster);
  for (const cluster of clusters) {
    t.true(await eventually(() => mayLogIn(cluster), 30_000), `${cluster}: LOGIN is back`);
    const owner = await ownerOf(cluster);
    t.true(await eventually(() => since(owner, cluster) > 0, 5_000), `${cluster}: its owner logged it`);
    for (const other of replicas.filter((r) => r !== owner)) t.is(since(other, cluster), 0, `${cluster}: no other replica corrected it`);
  }
});

test.serial(
  'a replica killed with SIGKILL: the two others take its shards within 30 s (15 s promised, a margin for a shared machine) and correct drift on its clusters',
  async (t) => {
    const owners = await Promise.all(clusters.map(ownerOf));
    const victim = replicas.find((r) => owners.includes(r))!;
    const itsClusters = clusters.filter((_c, i) => owners[i] === victim);
    const survivors = replicas.filter((r) => r !== victim);
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    t.true(await eventually(() => sharedBy(survivors), 30_000), 'the survivors hold every shard');
    t.log(`${itsClusters.length} clusters taken over ${Date.now() - killedAt} ms after their replica was killed`);

    for (const cluster of itsClusters) await noLogin(cluster);
    for (const cluster of itsClusters) {
      t.true(await eventually(() => mayLogIn(cluster), 30_000), `${cluster}: LOGIN is back`);
      const owner = await ownerOf(cluster);
      t.true(survivors.includes(owner));
      t.true(await eventually(() => corrections(owner, cluster) > 0, 5_000), `${cluster}: its new owner logged the correction`);
    }
    t.true(
      await eventually(async () => survivors.map(identityOf).includes((await holders()).get('postgres-apiserver') ?? ''), 30_000),
      'a survivor runs the retention',
    );
  },
);
