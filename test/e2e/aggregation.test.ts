// Through a real kube-apiserver: the APIService becomes Available, kubectl discovers and explains the kinds,
// and the usage guide's Steps 1–4 (the DSN aside) reach PostgreSQL, with Secrets, Services, EndpointSlices and
// Events in the cluster.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import test from 'ava';
import { guideManifests } from '../support/guide.ts';
import { eventually } from '../support/local.ts';
import { asUser, sql } from '../support/postgres.ts';
import { asAdmin, controlPlane, installServer, mustKubectl, namespace, run, type InstalledServer } from './support/cluster.ts';

let server: InstalledServer;
test.before(async () => {
  server = await installServer();
});
test.after.always(async () => server?.stop());

test.serial('kubectl api-resources lists the three kinds and explain reads their schema through the aggregator', async (t) => {
  const resources = await mustKubectl(['api-resources', '--api-group=postgres.databases.dinhloc.dev']);
  t.regex(resources, /databaseclusters\s+pgcluster\s+postgres\.databases\.dinhloc\.dev\/v1alpha1\s+false\s+DatabaseCluster/);
  t.regex(resources, /databases\s+pgdb\s+postgres\.databases\.dinhloc\.dev\/v1alpha1\s+true\s+Database/);
  t.regex(resources, /databaseroles\s+pgrole\s+postgres\.databases\.dinhloc\.dev\/v1alpha1\s+true\s+DatabaseRole/);
  const explained = await mustKubectl(['explain', 'databaserole.spec']);
  t.regex(explained, /KIND:\s+DatabaseRole/);
  t.regex(explained, /permissions\s+<\[\]Object>/);
});

test.serial("the guide's Steps 1–4 create the database, schema, role, login and grants", async (t) => {
  const applied = await asAdmin(['apply', '-f', '-'], guideManifests(server.postgres.superuserDsn));
  t.is(applied.code, 0, applied.stderr);
  t.true(
    await eventually(
      async () => (await asAdmin(['wait', '--for=condition=Ready', 'pgrole/app-user', 'pgdb/my-app-db', '--timeout=5s'])).code === 0,
      30_000,
    ),
  );
  const dsn = server.postgres.superuserDsn;
  t.is((await sql(dsn, `SELECT 1 FROM pg_database WHERE datname = 'my_app_db_production'`)).length, 1);
  t.is((await sql(dsn, `SELECT 1 FROM pg_namespace WHERE nspname = 'public'`, { database: 'my_app_db_production' })).length, 1);
  const [grants] = await sql(
    dsn,
    `SELECT has_schema_privilege('my_app_user', 'public', 'USAGE') AS usage, has_schema_privilege('my_app_user', 'public', 'CREATE') AS "create"`,
    { database: 'my_app_db_production' },
  );
  t.deepEqual(grants, { usage: true, create: true });
  await sql(dsn, 'CREATE TABLE public.orders (id int)', { database: 'my_app_db_production' });
  const [table] = await sql(
    dsn,
    `SELECT has_table_privilege('my_app_user', 'public.orders', 'SELECT,INSERT,UPDATE,DELETE') AS crud, has_table_privilege('my_app_user', 'public.orders', 'TRUNCATE') AS truncate`,
    { database: 'my_app_db_production' },
  );
  t.deepEqual(table, { crud: true, truncate: false });
  const [login] = await sql(asUser(dsn, 'my_app_user', 'strong-password-here'), 'SELECT current_user AS user', {
    database: 'my_app_db_production',
  });
  t.is(login!.user, 'my_app_user');
});

test.serial('kubectl get shows the live status, the Service is in the cluster, and describe lists the Events', async (t) => {
  t.regex(await mustKubectl(['get', 'pgrole', 'app-user']), /app-user\s+my_app_user\s+main-cluster\s+True\s+True\s+0/);
  t.regex(await mustKubectl(['get', 'pgcluster', 'main-cluster']), /main-cluster\s+127\.0\.0\.1:\d+\s+17\.\d+\s+True\s+1\s+1/);
  const service = JSON.parse(await mustKubectl(['get', 'service', 'my-app-db-svc', '-o', 'json']));
  t.like(service, {
    metadata: { labels: { 'app.kubernetes.io/managed-by': 'postgres-apiserver' } },
    spec: { ports: [{ port: Number(new URL(server.postgres.superuserDsn).port) }] },
  });
  const applied = /Normal\s+Applied\s+.*applied \d+ statements?: /;
  // Events are sent in the background: the write may have answered before its Event was stored.
  t.true(await eventually(async () => applied.test(await mustKubectl(['describe', 'pgrole', 'app-user']))));
  const described = await mustKubectl(['describe', 'pgrole', 'app-user']);
  t.regex(described, applied);
  t.notRegex(described, /strong-password-here/);
});

test.serial(
  'a Secret edited with kubectl is applied within seconds on a cluster that resyncs hourly: the new password logs in, the old one fails',
  async (t) => {
    // Only the watch on the cluster's Secrets can explain a change applied before the next resync.
    await mustKubectl(['patch', 'pgcluster', 'main-cluster', '--type', 'merge', '-p', '{"spec":{"resyncInterval":"1h"}}']);
    await new Promise((r) => setTimeout(r, 3_000)); // the passes due at the server's 1 s default are over
    const changedAt = Date.now();
    await mustKubectl([
      'create',
      'secret',
      'generic',
      'app-user-password',
      '--from-literal=password=rotated-by-kubectl',
      '--dry-run=client',
      '-o',
      'yaml',
    ]).then((yaml) => mustKubectl(['apply', '-f', '-'], yaml));
    const dsn = server.postgres.superuserDsn;
    const logsIn = (password: string) =>
      sql(asUser(dsn, 'my_app_user', password), 'SELECT 1', { database: 'my_app_db_production' }).then(
        () => true,
        () => false,
      );
    t.true(await eventually(() => logsIn('rotated-by-kubectl'), 10_000));
    t.log(`the new password logged in ${Date.now() - changedAt} ms after the change`);
    t.false(await logsIn('strong-password-here'));
    const role = JSON.parse(await mustKubectl(['get', 'pgrole', 'app-user', '-o', 'json']));
    const secret = JSON.parse(await mustKubectl(['get', 'secret', 'app-user-password', '-o', 'json']));
    t.true(
      await eventually(
        async () =>
          JSON.parse(await mustKubectl(['get', 'pgrole', 'app-user', '-o', 'json'])).status.passwordSecretVersion ===
          secret.metadata.resourceVersion,
        15_000,
      ),
      JSON.stringify(role.status),
    );
  },
);

test.serial(
  'a cluster whose Secret is missing, lacks the key, or holds a malformed DSN is not Ready, and never quotes the value',
  async (t) => {
    const cluster = (name: string, secret: string) => `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: ${name}}
spec: {connection: {name: ${secret}, namespace: default}}
`;
    await mustKubectl(['create', 'secret', 'generic', 'no-key', '--from-literal=other=x']);
    await mustKubectl(['create', 'secret', 'generic', 'bad-dsn', '--from-literal=connection=not a dsn with a s3cret']);
    await mustKubectl(
      ['apply', '-f', '-'],
      [cluster('missing', 'nowhere'), cluster('keyless', 'no-key'), cluster('malformed', 'bad-dsn')].join('---\n'),
    );
    for (const [name, reason] of [
      ['missing', 'SecretNotFound'],
      ['keyless', 'SecretKeyMissing'],
      ['malformed', 'MalformedDSN'],
    ] as const) {
      const object = JSON.parse(await mustKubectl(['get', 'pgcluster', name, '-o', 'json']));
      t.like(
        object.status.conditions.find((c: { type: string }) => c.type === 'Ready'),
        { status: 'False', reason },
      );
      t.notRegex(JSON.stringify(object), /s3cret/);
    }
  },
);

test.serial(
  'the Service of a loopback DSN gets no EndpointSlice: kube-apiserver refuses the address, and the Database is warned why',
  async (t) => {
    t.regex((await asAdmin(['get', 'endpointslice', 'my-app-db-svc'])).stderr, /NotFound/);
    const touched = await asAdmin(['annotate', 'pgdb', 'my-app-db', 'e2e/touched=1', '--overwrite']);
    t.is(touched.code, 0, touched.stderr);
    t.regex(
      touched.stderr,
      /Warning: Service default\/my-app-db-svc has no endpoints: its EndpointSlice could not be written: HTTP 422: .*"127\.0\.0\.1": may not be in the loopback range/,
    );
    t.regex(await mustKubectl(['describe', 'pgdb', 'my-app-db']), /Warning\s+EndpointSliceFailed\s+.*may not be in the loopback range/);
    t.is(JSON.parse(await mustKubectl(['get', 'service', 'my-app-db-svc', '-o', 'json'])).spec.type, 'ClusterIP', 'the Service stays');
  },
);

/** An address of this machine that is not loopback: what a DSN naming a server by IP holds. */
function hostAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) throw new Error('this machine has no IPv4 address but loopback');
  return address;
}

const elsewhere = (address: string, port: number) => `apiVersion: v1
kind: Secret
metadata: {name: elsewhere-connection, namespace: default}
stringData: {connection: "postgres://nobody:unused@${address}:${port}/postgres"}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: elsewhere}
spec: {connection: {name: elsewhere-connection, namespace: default}}
`;
const database = (name: string, service: string) => `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: ${name}, namespace: default}
spec: {name: ${name.replace('-', '_')}, databaseClusterRef: {name: elsewhere}, databaseServiceName: ${service}}
`;
const sliceOf = async (name: string) => JSON.parse(await mustKubectl(['get', 'endpointslice', name, '-o', 'json']));

test.serial(
  'the Service of a DSN naming another IP gets an EndpointSlice with its address and port, kept current and removed with it',
  async (t) => {
    const address = hostAddress();
    // Nothing listens on port 1: the database cannot be created, but its Service is made all the same.
    await mustKubectl(['apply', '-f', '-'], elsewhere(address, 1) + '---\n' + database('remote-db', 'remote-db-svc'));
    const service = JSON.parse(await mustKubectl(['get', 'service', 'remote-db-svc', '-o', 'json']));
    t.like(await sliceOf('remote-db-svc'), {
      metadata: {
        labels: {
          'kubernetes.io/service-name': 'remote-db-svc',
          'endpointslice.kubernetes.io/managed-by': 'postgres.databases.dinhloc.dev',
        },
        ownerReferences: [{ kind: 'Service', name: 'remote-db-svc', uid: service.metadata.uid }],
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [address] }],
      ports: [{ name: 'postgres', protocol: 'TCP', port: 1 }],
    });

    await mustKubectl(['apply', '-f', '-'], elsewhere(address, 2));
    await mustKubectl(['annotate', 'pgdb', 'remote-db', 'e2e/touched=1', '--overwrite']);
    t.like(await sliceOf('remote-db-svc'), { endpoints: [{ addresses: [address] }], ports: [{ name: 'postgres', port: 2 }] });

    await mustKubectl(['delete', 'pgdb', 'remote-db']);
    t.regex((await asAdmin(['get', 'service', 'remote-db-svc'])).stderr, /NotFound/);
    t.regex((await asAdmin(['get', 'endpointslice', 'remote-db-svc'])).stderr, /NotFound/);
  },
);

test.serial('an EndpointSlice of the same name that this server did not make is left alone, and the Database is warned', async (t) => {
  const foreign = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: foreign-svc, namespace: default, labels: {kubernetes.io/service-name: foreign-svc}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.99]}]
ports: [{name: db, protocol: TCP, port: 5432}]
`;
  await mustKubectl(['apply', '-f', '-'], foreign);
  const applied = await asAdmin(['apply', '-f', '-'], database('foreign-db', 'foreign-svc'));
  t.is(applied.code, 0, applied.stderr);
  t.regex(
    applied.stderr,
    /Warning: EndpointSlice default\/foreign-svc exists and was not made for this Database's Service: it is left alone/,
  );
  t.like(await sliceOf('foreign-svc'), { endpoints: [{ addresses: ['10.0.0.99'] }], ports: [{ name: 'db', port: 5432 }] });
});

test.serial(
  'a serving certificate renewed in place is served without a restart, and kubectl keeps working through the aggregator',
  async (t) => {
    const { dir } = controlPlane();
    const certs = join(dir, 'serving-cert');
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(
          {
            host: '127.0.0.1',
            port: server.port,
            servername: `postgres-apiserver.${namespace}.svc`,
            ca: readFileSync(join(certs, 'ca.crt')),
          },
          () => {
            resolve(socket.getPeerX509Certificate()!.fingerprint256);
            socket.end();
          },
        );
        socket.on('error', reject);
      });
    const before = readFileSync(join(certs, 'tls.crt'), 'utf8');
    t.is(await served(), fingerprint(before));
    await run(process.execPath, [
      '--import',
      'tsx',
      'apiservice/certificate.ts',
      '--out',
      certs,
      '--namespace',
      namespace,
      '--service',
      'postgres-apiserver',
    ]);
    const after = readFileSync(join(certs, 'tls.crt'), 'utf8');
    t.not(fingerprint(after), fingerprint(before), 'the command made a new certificate from the same CA');
    t.true(await eventually(async () => (await served()) === fingerprint(after)));
    t.regex(await mustKubectl(['get', 'pgrole', 'app-user']), /app-user\s+my_app_user/);
  },
);
