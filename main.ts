// postgres-apiserver. `npm start` runs local mode: the API on loopback with an embedded PostgreSQL server and
// a kubeconfig for kubectl. `--mode cluster` runs behind kube-apiserver's aggregator (apiservice/).
// `npm start -- --help` lists the options.
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from './lib/log.ts';

const usage = `Usage: npm start -- [options]

  --mode MODE           local (default): no cluster needed; cluster: behind kube-apiserver  [env MODE]
  --port PORT           HTTPS port (default: 8443; 0 for any free port)                       [env PORT]
  --store-dsn DSN       keep the object store in this PostgreSQL database (required in cluster mode;
                        replicas sharing it share one state)                                 [env STORE_DSN]
  --resync-interval SEC how often the reconciler compares every object with the catalog, for clusters
                        that set no spec.resyncInterval (default: 30)                        [env RESYNC_INTERVAL]
  --log-level LEVEL     trace, debug, info, warn, error (default: info)                      [env LOG_LEVEL]
  --help                show this text

Local mode:
  --data-dir DIR        keep all state under DIR (default: ./.data): the kubeconfig at DIR/kubeconfig, the
                        embedded PostgreSQL server's superuser DSN at DIR/postgres.dsn       [env DATA_DIR]
  --postgres-port PORT  port of the embedded PostgreSQL server (default: a free port)        [env POSTGRES_PORT]

Cluster mode:
  --bind-address ADDR   address to listen on (default: 0.0.0.0)                              [env BIND_ADDRESS]
  --tls-cert-file FILE  the serving certificate (PEM), with the SAN <service>.<namespace>.svc [env TLS_CERT_FILE]
  --tls-private-key-file FILE  its key (PEM)                                                 [env TLS_PRIVATE_KEY_FILE]
  --kubeconfig FILE     how to reach kube-apiserver (default: KUBECONFIG, else in-cluster)
  --lease-namespace NS  the namespace of the Leases that share the loops among replicas (default: the pod's
                        namespace, else postgres-apiserver; the chart grants them there alone) [env LEASE_NAMESPACE]`;

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: process.env.MODE ?? 'local' },
    'data-dir': { type: 'string', default: process.env.DATA_DIR ?? '.data' },
    port: { type: 'string', default: process.env.PORT ?? '8443' },
    'store-dsn': { type: 'string', default: process.env.STORE_DSN },
    'postgres-port': { type: 'string', default: process.env.POSTGRES_PORT },
    'resync-interval': { type: 'string', default: process.env.RESYNC_INTERVAL ?? '30' },
    'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
    'bind-address': { type: 'string', default: process.env.BIND_ADDRESS ?? '0.0.0.0' },
    'tls-cert-file': { type: 'string', default: process.env.TLS_CERT_FILE },
    'tls-private-key-file': { type: 'string', default: process.env.TLS_PRIVATE_KEY_FILE },
    kubeconfig: { type: 'string' },
    'lease-namespace': { type: 'string', default: process.env.LEASE_NAMESPACE },
    help: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** A fault of the environment, in one line: no usage, no stack trace. */
function refuse(message: string): never {
  console.error(`postgres-apiserver: ${message}`);
  process.exit(1);
}

if (values.help) {
  console.log(usage);
  process.exit(0);
}

const log = createLogger(values['log-level']);
const port = Number(values.port);
const resyncIntervalMs = Number(values['resync-interval']) * 1000;
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number, not ${JSON.stringify(values.port)}`);
if (!(resyncIntervalMs >= 1000 && resyncIntervalMs <= 86_400_000))
  fail(`--resync-interval must be from 1 to 86400 seconds, not ${JSON.stringify(values['resync-interval'])}`);

async function runCluster() {
  const required = {
    'store-dsn': values['store-dsn'],
    'tls-cert-file': values['tls-cert-file'],
    'tls-private-key-file': values['tls-private-key-file'],
  };
  const missing = Object.entries(required)
    .filter(([, v]) => !v)
    .map(([k]) => `--${k}`);
  if (missing.length > 0) fail(`cluster mode needs ${missing.join(', ')}`);
  // Each mode is loaded only when run: cluster mode's client-node alone is some 70 MiB that local mode never needs.
  const { startClusterMode } = await import('./modes/cluster.ts');
  const server = await startClusterMode({
    port,
    bindAddress: values['bind-address'],
    tlsCertFile: values['tls-cert-file']!,
    tlsPrivateKeyFile: values['tls-private-key-file']!,
    storeDsn: values['store-dsn']!,
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(values['lease-namespace'] ? { leaseNamespace: values['lease-namespace'] } : {}),
    resyncIntervalMs,
    log,
  });
  const banner = () => log.info({ port: server.port }, 'postgres-apiserver is serving (cluster mode)');
  return Object.assign(server, { banner });
}

/** Whether `port` can be listened on at `host` now (0 always can). */
function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen(port, host, () => probe.close(() => done(true)));
  });
}

async function runLocal() {
  const dataDir = resolve(values['data-dir']);
  // Before anything is written: a second server on the same port would only fail later, with a stack trace.
  if (!(await portFree(port, '127.0.0.1')))
    refuse(`port ${port} on 127.0.0.1 is in use (another postgres-apiserver?): stop it, or pass --port`);
  const { startLocalMode } = await import('./modes/local.ts');
  const local = await startLocalMode({
    dataDir,
    port,
    resyncIntervalMs,
    log,
    ...(values['store-dsn'] ? { storeDsn: values['store-dsn'] } : {}),
    ...(values['postgres-port'] ? { postgresPort: Number(values['postgres-port']) } : {}),
  });
  const banner = () =>
    console.log(`postgres-apiserver is serving on https://127.0.0.1:${local.port}

Try it:
  export KUBECONFIG=${local.kubeconfig}
  kubectl api-resources --api-group=postgres.databases.dinhloc.dev
  kubectl get pgapi -A

The embedded PostgreSQL server to manage: its superuser DSN is in ${dataDir}/postgres.dsn.
The usage guide's Secret (its Step 1), pointing at that server:
  kubectl create secret generic postgres-connection --namespace default --from-file=connection=${dataDir}/postgres.dsn
Press Ctrl-C to stop.`);
  return Object.assign(local, { banner });
}

if (values.mode !== 'local' && values.mode !== 'cluster') fail(`--mode must be local or cluster, not ${JSON.stringify(values.mode)}`);
const running = values.mode === 'cluster' ? await runCluster() : await runLocal();

/**
 * SIGTERM or SIGINT: a clean stop (requests in flight get apiserver/app.ts's grace, then 503; the loops stop; the
 * pools close). What is not done within stopDeadlineMs, or at a second signal, is cut off; local mode's
 * PostgreSQL server is still told to shut down.
 */
const stopDeadlineMs = 5_000;
let stopping = false;
function cutOff(): never {
  if ('abandon' in running) running.abandon();
  process.exit(1);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) cutOff();
    stopping = true;
    setTimeout(() => {
      log.warn({ ms: stopDeadlineMs }, 'not stopped within the deadline: cutting off what is left');
      cutOff();
    }, stopDeadlineMs).unref();
    void running.stop().then(() => process.exit(0));
  });
}
// Only once the signals are handled: a SIGTERM or Ctrl-C right after the banner must stop the server cleanly.
running.banner();
