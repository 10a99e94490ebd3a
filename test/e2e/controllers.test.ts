// What every real cluster runs beside kube-apiserver, acting on our kinds: kube-controller-manager's garbage
// collector (metadata informers on every resource discovery lists; a dependent whose owner a metadata GET does not
// find, or finds with another uid, is deleted) and its namespace controller (a deleted namespace's objects are
// deleted through every namespaced resource, then the namespace goes). Both read us through client-go's metadata
// client: PartialObjectMetadata(List) for GET, LIST and WATCH.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { eventually } from '../support/local.ts';
import { sql } from '../support/postgres.ts';
import {
  asAdmin,
  controllerManagerLog,
  garbageCollectorGraph,
  installServer,
  mustKubectl,
  type GraphNode,
  type InstalledServer,
} from './support/cluster.ts';

const apiVersion = 'postgres.databases.dinhloc.dev/v1alpha1';

let server: InstalledServer;
test.before(async () => {
  server = await installServer();
  await mustKubectl(
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: Secret
metadata: {name: controllers-connection, namespace: default}
stringData: {connection: "${server.postgres.superuserDsn}"}
---
apiVersion: ${apiVersion}
kind: DatabaseCluster
metadata: {name: controllers}
spec: {connection: {name: controllers-connection, namespace: default}}
`,
  );
});
test.after.always(async () => server?.stop());

const getJson = async (args: string[]) => JSON.parse(await mustKubectl([...args, '-o', 'json']));
const gone = async (args: string[]) => /NotFound/.test((await asAdmin(['get', ...args])).stderr);

/**
 * kube-controller-manager's log lines of a watch on our kinds that ended because an event did not decode (an
 * object sent whole where PartialObjectMetadata was asked for): the informer then lists again and misses changes.
 */
const undecodedWatchEvents = () =>
  controllerManagerLog()
    .split('\n')
    .filter((line) => /no kind \\*"(Database|DatabaseRole|DatabaseCluster)\\*" is registered/.test(line));

/**
 * Waits until the garbage collector's graph holds `dependent` with an edge to `owner`, and `owner` as observed
 * through its informer (a virtual node is one known only from an ownerReference, which it would verify by a GET).
 */
async function ownedInGraph(dependent: string, owner: string): Promise<{ held: boolean; owner?: GraphNode }> {
  let node: GraphNode | undefined;
  const held = await eventually(async () => {
    const graph = await garbageCollectorGraph(dependent);
    node = graph.nodes.find((n) => n.uid === owner);
    return graph.edges.some(([from, to]) => from === dependent && to === owner) && node?.kind === 'Database' && !node.virtual;
  }, 120_000);
  return { held, owner: node };
}

/** A ConfigMap that names `owner` (with the uid given) as its owner, as an application's own dependents do. */
const dependent = (name: string, namespace: string, owner: { name: string; uid: string }) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: ${namespace}
  ownerReferences: [{apiVersion: ${apiVersion}, kind: Database, name: ${owner.name}, uid: ${owner.uid}}]
data: {note: depends on the Database}
`;

test.serial(
  "the garbage collector watches a Database through its metadata informer and leaves the Database's Service alone; the Service goes with the Database",
  async (t) => {
    await mustKubectl(['create', 'namespace', 'gc-owner']);
    await mustKubectl(
      ['apply', '-f', '-'],
      `apiVersion: ${apiVersion}
kind: Database
metadata: {name: owned-db, namespace: gc-owner}
spec: {name: owned_db, databaseClusterRef: {name: controllers}, databaseServiceName: owned-db-svc}
`,
    );
    const database = await getJson(['get', 'pgdb', 'owned-db', '-n', 'gc-owner']);
    const service = await getJson(['get', 'service', 'owned-db-svc', '-n', 'gc-owner']);
    t.like(service.metadata.ownerReferences, [
      { apiVersion, kind: 'Database', name: 'owned-db', uid: database.metadata.uid, controller: true },
    ]);

    // The garbage collector's graph holds the Service with the Database as its owner, and the Database as observed
    // through the informer on databases (a virtual node is one known only from an ownerReference): from then on
    // it has nothing to verify, and the Service stays.
    const observed = await ownedInGraph(service.metadata.uid, database.metadata.uid);
    t.true(observed.held, `the Database in the garbage collector's graph: ${JSON.stringify(observed.owner)}`);
    t.is(
      (await getJson(['get', 'service', 'owned-db-svc', '-n', 'gc-owner'])).metadata.uid,
      service.metadata.uid,
      'the Service is the one first made (not deleted by the garbage collector and made again by the reconciler)',
    );
    t.false(
      controllerManagerLog()
        .split('\n')
        .some((line) => line.includes('"Deleting item"') && line.includes(service.metadata.uid)),
      'the garbage collector never deleted the Service',
    );

    // Its own metadata GET of the owner: a dependent naming another uid is deleted, one naming this uid stays.
    await mustKubectl(
      ['apply', '-f', '-'],
      dependent('follows-db', 'gc-owner', { name: 'owned-db', uid: database.metadata.uid }) +
        '---\n' +
        dependent('stale-owner', 'gc-owner', { name: 'owned-db', uid: randomUUID() }),
    );
    t.true(await eventually(() => gone(['configmap', 'stale-owner', '-n', 'gc-owner']), 60_000), 'the dependent of another uid is deleted');
    const follower = await getJson(['get', 'configmap', 'follows-db', '-n', 'gc-owner']);
    t.true((await ownedInGraph(follower.metadata.uid, database.metadata.uid)).held, 'the garbage collector holds the other one');
    t.is((await getJson(['get', 'configmap', 'follows-db', '-n', 'gc-owner'])).metadata.uid, follower.metadata.uid, 'and keeps it');

    // The DELETED event of the Database reaches the garbage collector's watch: the ConfigMap goes with it, and so
    // does the Service (which this server removes itself, too).
    await mustKubectl(['delete', 'pgdb', 'owned-db', '-n', 'gc-owner']);
    t.true(await eventually(() => gone(['service', 'owned-db-svc', '-n', 'gc-owner']), 30_000));
    t.true(await eventually(() => gone(['configmap', 'follows-db', '-n', 'gc-owner']), 60_000), 'the dependent goes with its owner');
    t.deepEqual(undecodedWatchEvents(), []);
  },
);

test.serial('deleting a namespace deletes its Databases and DatabaseRoles by their reclaimPolicy, and the namespace goes', async (t) => {
  await mustKubectl(['create', 'namespace', 'doomed']);
  const database = (name: string, reclaimPolicy: string) => `apiVersion: ${apiVersion}
kind: Database
metadata: {name: ${name.replaceAll('_', '-')}, namespace: doomed}
spec: {name: ${name}, databaseClusterRef: {name: controllers}, reclaimPolicy: ${reclaimPolicy}, databaseServiceName: ${name.replaceAll('_', '-')}-svc}
`;
  const role = (name: string, reclaimPolicy: string) => `apiVersion: ${apiVersion}
kind: DatabaseRole
metadata: {name: ${name.replaceAll('_', '-')}, namespace: doomed}
spec:
  roleName: ${name}
  databaseClusterRef: {name: controllers}
  reclaimPolicy: ${reclaimPolicy}
  permissions: [{database: doomed_kept, privileges: [CONNECT]}]
`;
  await mustKubectl(
    ['apply', '-f', '-'],
    [
      database('doomed_dropped', 'Delete'),
      database('doomed_kept', 'Retain'),
      role('doomed_dropper', 'Delete'),
      role('doomed_keeper', 'Retain'),
    ].join('---\n'),
  );
  const ready = await asAdmin(['wait', '--for=condition=Ready', 'pgdb', '--all', '-n', 'doomed', '--timeout=60s']);
  t.is(ready.code, 0, ready.stderr);
  const dsn = server.postgres.superuserDsn;
  const databases = async () =>
    (await sql(dsn, `SELECT datname FROM pg_database WHERE datname LIKE 'doomed%' ORDER BY 1`)).map((r) => r.datname);
  const roles = async () => (await sql(dsn, `SELECT rolname FROM pg_roles WHERE rolname LIKE 'doomed%' ORDER BY 1`)).map((r) => r.rolname);
  t.deepEqual(await databases(), ['doomed_dropped', 'doomed_kept']);
  t.deepEqual(await roles(), ['doomed_dropper', 'doomed_keeper']);

  await mustKubectl(['delete', 'namespace', 'doomed', '--wait=false']);
  const finished = await eventually(() => gone(['namespace', 'doomed']), 180_000);
  const left = finished ? undefined : await asAdmin(['get', 'namespace', 'doomed', '-o', 'jsonpath={.status.conditions}']);
  t.true(finished, `the namespace is still there: ${left?.stdout}`);
  t.is((await mustKubectl(['get', 'pgdb,pgrole', '-n', 'doomed', '-o', 'name'])).trim(), '');
  t.deepEqual(await databases(), ['doomed_kept'], 'Delete dropped its database, Retain kept its own');
  t.deepEqual(await roles(), ['doomed_keeper'], 'Delete dropped its role, Retain kept its own');
  t.deepEqual(undecodedWatchEvents(), []);
});
