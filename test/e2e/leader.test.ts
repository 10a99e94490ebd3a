// Two replicas in cluster mode, one store, one kube-apiserver: both serve the API, exactly one holds the Lease
// and reconciles (its log alone says "drift corrected"), and when it is killed the other takes the Lease over
// and corrects drift from then on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { guideManifests } from '../support/guide.ts';
import { eventually } from '../support/local.ts';
import { sql } from '../support/postgres.ts';
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

let server: InstalledServer;
let replicas: Replica[];
test.before(async () => {
  server = await installServer();
  replicas = [server, await server.startReplica()];
  await mustKubectl(['apply', '-f', '-'], guideManifests(server.postgres.superuserDsn));
  const ready = await eventually(
    async () => (await asAdmin(['wait', '--for=condition=Ready', 'pgrole/app-user', 'pgdb/my-app-db', '--timeout=5s'])).code === 0,
    60_000,
  );
  if (!ready) throw new Error("the guide's objects did not become Ready");
});
test.after.always(async () => server?.stop());

/** The identity a replica elects itself under, from its log. */
function identityOf(replica: Replica): string {
  const line = readFileSync(replica.logFile, 'utf8')
    .split('\n')
    .find((l) => l.includes('electing a leader by Lease'));
  if (!line) throw new Error(`${replica.logFile} names no identity`);
  return (JSON.parse(line) as { identity: string }).identity;
}

/** How many corrections the replica's reconciler logged. */
function corrections(replica: Replica): number {
  return readFileSync(replica.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"drift corrected"')).length;
}

async function lease(): Promise<{ holderIdentity?: string; leaseTransitions?: number }> {
  return JSON.parse(await mustKubectl(['get', 'lease', 'postgres-apiserver', '-n', namespace, '-o', 'json'])).spec;
}

async function leader(): Promise<{ leading: Replica; following: Replica }> {
  const holder = (await lease()).holderIdentity;
  const leading = replicas.find((r) => identityOf(r) === holder);
  if (!leading) throw new Error(`the Lease is held by ${holder}, neither replica`);
  return { leading, following: replicas.find((r) => r !== leading)! };
}

const dsn = () => server.postgres.superuserDsn;
const revokeCreate = () => sql(dsn(), 'REVOKE CREATE ON SCHEMA public FROM my_app_user', { database: 'my_app_db_production' });
const mayCreate = async () => {
  const [row] = await sql(dsn(), `SELECT has_schema_privilege('my_app_user', 'public', 'CREATE') AS ok`, {
    database: 'my_app_db_production',
  });
  return row!.ok === true;
};

test.serial('both replicas serve the API; exactly one holds the Lease, and kubectl get lease shows its identity', async (t) => {
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
  t.true(await eventually(async () => replicas.map(identityOf).includes((await lease()).holderIdentity ?? ''), 30_000));
  const { leading } = await leader();
  t.regex(await mustKubectl(['get', 'lease', '-n', namespace]), new RegExp(`postgres-apiserver\\s+${identityOf(leading)}\\s`));
  await new Promise((r) => setTimeout(r, 6_000));
  t.is((await leader()).leading, leading, 'the lead stays where it is while its holder renews');
});

test.serial('a REVOKE by hand is corrected, by the leader alone', async (t) => {
  const { leading, following } = await leader();
  const before = corrections(leading);
  await revokeCreate();
  t.true(await eventually(mayCreate, 30_000), 'the grant is back');
  t.true(await eventually(() => corrections(leading) > before, 5_000), 'the leader logged the correction');
  t.is(corrections(following), 0, 'the follower never corrected anything');
});

test.serial(
  'the leader killed with SIGKILL, the other takes the Lease over within 20 s (15 s promised, a margin for a shared machine) and corrects drift from then on',
  async (t) => {
    const { leading, following } = await leader();
    const transitions = (await lease()).leaseTransitions ?? 0;
    const killedAt = Date.now();
    await leading.kill('SIGKILL');
    t.true(await eventually(async () => (await lease()).holderIdentity === identityOf(following), 20_000), 'the follower holds the Lease');
    t.log(`took the Lease over ${Date.now() - killedAt} ms after the leader was killed`);
    t.is((await lease()).leaseTransitions, transitions + 1);

    await revokeCreate();
    t.true(await eventually(mayCreate, 30_000), 'the grant is back');
    t.true(await eventually(() => corrections(following) > 0, 5_000), 'the new leader logged the correction');
  },
);
