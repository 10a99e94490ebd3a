// Local mode: `npm start` serves the API on loopback with an embedded PostgreSQL server, and writes a
// kubeconfig for kubectl. `npm start -- --help` lists the options.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalMode } from './apiserver/local.ts';
import { createLogger } from './apiserver/log.ts';

const usage = `Usage: npm start -- [options]

  --data-dir DIR        keep all state under DIR (default: ./.data): the kubeconfig at DIR/kubeconfig, the
                        embedded PostgreSQL server's superuser DSN at DIR/postgres.dsn   [env DATA_DIR]
  --port PORT           HTTPS port on 127.0.0.1 (default: 8443; 0 for any free port)     [env PORT]
  --store-dsn DSN       keep the object store in this PostgreSQL database instead of the embedded server
                                                                                         [env STORE_DSN]
  --postgres-port PORT  port of the embedded PostgreSQL server (default: a free port)    [env POSTGRES_PORT]
  --resync-interval SEC how often the reconciler compares a DatabaseCluster's objects with the catalog when
                        its spec.resyncInterval does not say (default: 10)
                                                                                         [env RESYNC_INTERVAL]
  --log-level LEVEL     trace, debug, info, warn, error (default: info)                  [env LOG_LEVEL]
  --help                show this text`;

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: process.env.DATA_DIR ?? '.data' },
    port: { type: 'string', default: process.env.PORT ?? '8443' },
    'store-dsn': { type: 'string', default: process.env.STORE_DSN },
    'postgres-port': { type: 'string', default: process.env.POSTGRES_PORT },
    'resync-interval': { type: 'string', default: process.env.RESYNC_INTERVAL ?? '10' },
    'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(usage);
  process.exit(0);
}

const log = createLogger(values['log-level']);
const dataDir = resolve(values['data-dir']);
const local = await startLocalMode({
  dataDir,
  port: Number(values.port),
  resyncIntervalMs: Number(values['resync-interval']) * 1000,
  log,
  ...(values['store-dsn'] ? { storeDsn: values['store-dsn'] } : {}),
  ...(values['postgres-port'] ? { postgresPort: Number(values['postgres-port']) } : {}),
});

console.log(`postgres-apiserver is serving on https://127.0.0.1:${local.port}

Try it:
  export KUBECONFIG=${local.kubeconfig}
  kubectl api-resources --api-group=postgres.databases.dinhloc.dev
  kubectl get postgres -A

The embedded PostgreSQL server to manage: its superuser DSN is in ${dataDir}/postgres.dsn
Press Ctrl-C to stop.`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void local.stop().then(() => process.exit(0));
  });
}
