// Local mode (DESIGN.md, Modes): no cluster needed. An embedded PostgreSQL server is both the ready target and
// the home of the object store; the server listens on loopback over TLS, serves the few core kinds the usage
// guide needs itself, and writes a kubeconfig for kubectl.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openAPIV2With, serve } from '../openapi/document.ts';
import { eventsV1Documented } from '../openapi/events.ts';
import { connectionConfig } from '../storage/catalog/dsn.ts';
import { quoteIdent } from '../storage/catalog/identifiers.ts';
import { guardedClient } from '../storage/connections.ts';
import { PostgresSupervisor, startEmbeddedPostgres } from '../storage/embedded-postgres.ts';
import { ObjectStore } from '../storage/objects/store.ts';
import { AdvisoryLockElection } from '../reconcile/leader.ts';
import { bearerTokenAuthentication } from '../apiserver/authentication.ts';
import { writeKubeconfig } from '../apiserver/kubeconfig.ts';
import { failure, type Logger } from '../lib/log.ts';
import { storeResource } from '../reconcile/kinds/resource.ts';
import { localCoreKinds, namespaces, storeCore } from '../reconcile/kinds/core.ts';
import { storeEvents } from '../storage/kubernetes/events.ts';
import { startServer, Stops } from './server.ts';
import { defaultRetention } from '../reconcile/retention.ts';
import { servingCertificateIn } from '../apiserver/tls.ts';
import { coreDiscovery, coreOpenAPIDocument, eventsDiscovery, eventsOpenAPIDocument, eventsOpenAPIPath } from '../apiserver/groups.ts';
import { eventsV1 } from '../reconcile/kinds/events.ts';
import { AlreadyExists } from '../storage/objects/errors.ts';
import { selfServiceRouter } from '../apiserver/selfservice.ts';

export interface LocalModeOptions {
  dataDir: string;
  /** 0 for any free port. */
  port: number;
  /** The object store's database; default: a database `apiserver` in the embedded server. */
  storeDsn?: string;
  postgresPort?: number;
  /** How often the reconciler compares a cluster's objects with the catalog when its spec does not say; default 10 s. */
  resyncIntervalMs?: number;
  log: Logger;
}

export interface LocalMode {
  port: number;
  kubeconfig: string;
  /** The embedded server's superuser DSN (also in DATA/postgres.dsn). */
  postgresDsn: string;
  /** The object store's database; replicas sharing it share one state. */
  storeDsn: string;
  /** Whether this replica leads, and so runs the reconciler. */
  isLeader(): boolean;
  stop(): Promise<void>;
  /** For a process that exits before `stop` is done: the embedded PostgreSQL server still shuts down. */
  abandon(): void;
}

/** A secret kept in the data folder across restarts, made on first use. */
function persistentSecret(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}

async function ensureDatabase(dsn: string, name: string): Promise<string> {
  const client = guardedClient(connectionConfig(dsn));
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(dsn);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The namespaces every cluster starts with. */
async function seedNamespaces(store: ObjectStore): Promise<void> {
  for (const name of ['default', 'kube-system', 'kube-public']) {
    await store
      .create(storeResource(namespaces), { apiVersion: 'v1', kind: 'Namespace', metadata: { name }, status: { phase: 'Active' } })
      .catch((error: unknown) => {
        if (!(error instanceof AlreadyExists)) throw error;
      });
  }
}

/**
 * The embedded server, on the port it had last time when none is given: DSNs users put in Secrets keep
 * working across restarts (a taken port falls back to a free one).
 */
async function startPostgres(options: LocalModeOptions): Promise<PostgresSupervisor> {
  const serverOptions = { major: 17, dir: join(options.dataDir, 'postgres') };
  const start = (port?: number) => startEmbeddedPostgres({ ...serverOptions, ...(port ? { port } : {}) });
  const first = async () => {
    if (options.postgresPort) return start(options.postgresPort);
    const dsnFile = join(options.dataDir, 'postgres.dsn');
    const previous = existsSync(dsnFile) ? Number(new URL(readFileSync(dsnFile, 'utf8').trim()).port) : undefined;
    if (!previous) return start();
    return start(previous).catch((error: unknown) => {
      options.log.warn(
        { ...failure(error), port: previous },
        'the embedded PostgreSQL server cannot have its previous port; it takes another',
      );
      return start();
    });
  };
  // Kept running: if it exits, it is started again on the same port.
  return new PostgresSupervisor(await first(), serverOptions, options.log);
}

export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  mkdirSync(options.dataDir, { recursive: true });
  const supervisor = await startPostgres(options);
  const postgres = supervisor.current();
  const stops = new Stops(options.log);
  stops.add(() => supervisor.stop());
  try {
    writeFileSync(join(options.dataDir, 'postgres.dsn'), `${postgres.dsn}\n`, { mode: 0o600 });
    const storeDsn = options.storeDsn ?? (await ensureDatabase(postgres.dsn, 'apiserver'));
    // Its own embedded server's store has no other writer (a second server cannot start on the same folder).
    const store = await ObjectStore.open(storeDsn, { soleWriter: options.storeDsn === undefined });
    stops.add(() => store.close());
    await seedNamespaces(store);
    const tls = await servingCertificateIn(join(options.dataDir, 'tls'), ['localhost', '127.0.0.1']);
    if (tls.created)
      options.log.info({ dir: join(options.dataDir, 'tls') }, 'no serving certificate given: generated a self-signed CA and certificate');
    const token = persistentSecret(join(options.dataDir, 'token'));
    const server = await startServer(
      {
        store,
        election: new AdvisoryLockElection(storeDsn, options.log),
        core: storeCore(store),
        events: (onError) => storeEvents(store, onError),
        authenticate: bearerTokenAuthentication(token, { name: 'local-admin', groups: ['system:masters', 'system:authenticated'] }),
        tls,
        port: options.port,
        host: '127.0.0.1',
        resyncIntervalMs: options.resyncIntervalMs ?? 10_000,
        retention: defaultRetention,
        log: options.log,
        extra: {
          kinds: (ours) => [...localCoreKinds(store, ours), eventsV1],
          discovery: [coreDiscovery, eventsDiscovery],
          openapi: { 'api/v1': serve(coreOpenAPIDocument()), [eventsOpenAPIPath]: serve(eventsOpenAPIDocument()) },
          openapiV2: openAPIV2With([eventsV1Documented]),
          routers: [selfServiceRouter()],
        },
      },
      stops,
    );
    const kubeconfig = join(options.dataDir, 'kubeconfig');
    writeKubeconfig(kubeconfig, { server: `https://127.0.0.1:${server.port}`, ca: tls.ca, token });
    return {
      port: server.port,
      kubeconfig,
      postgresDsn: postgres.dsn,
      storeDsn,
      isLeader: server.isLeader,
      stop: server.stop,
      abandon: () => supervisor.abandon(),
    };
  } catch (error) {
    await stops.run();
    throw error;
  }
}
