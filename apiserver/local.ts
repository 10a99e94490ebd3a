// Local mode (DESIGN.md, Modes): no cluster needed. An embedded PostgreSQL server is both the ready target and
// the home of the object store; the server listens on loopback over TLS, serves the few core kinds the usage
// guide needs itself, and writes a kubeconfig for kubectl.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { serve } from '../openapi/document.ts';
import { kinds } from '../openapi/index.ts';
import { connectionConfig } from '../storage/catalog/dsn.ts';
import { quoteIdent } from '../storage/catalog/identifiers.ts';
import { CatalogRegistry } from '../storage/catalog/registry.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../storage/embedded-postgres.ts';
import { ObjectStore } from '../storage/objects/store.ts';
import { createApp, listen } from './app.ts';
import { bearerTokenAuthentication } from './authentication.ts';
import { discoveryRouter, type DiscoveryGroup } from './discovery.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import type { Logger } from './log.ts';
import { openapiRouter } from './openapi.ts';
import { storeResource, type ResourceKind } from './resource.ts';
import { coreDiscovery, coreKinds, coreOpenAPIDocument, namespaces, storeSecrets } from './resources/core.ts';
import { storeEvents } from './resources/events.ts';
import { ourKinds } from './resources/index.ts';
import { resourceRouter } from './rest.ts';
import { servingCertificateIn } from './tls.ts';
import { LeaderElection } from '../reconcile/leader.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { ObjectLocks } from './locks.ts';
import { Metrics } from './metrics.ts';

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
}

const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const ourDiscovery: DiscoveryGroup = {
  group: kinds.databases.group,
  version: kinds.databases.version,
  resources: Object.values(kinds).map((k) => ({
    plural: k.plural, singular: k.singular, kind: k.kind, namespaced: k.namespaced, verbs, shortNames: k.shortNames, categories: k.categories, subresources: ['status'],
  })),
};

/** A secret kept in the data folder across restarts, made on first use. */
function persistentSecret(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}

async function ensureDatabase(dsn: string, name: string): Promise<string> {
  const client = new pg.Client(connectionConfig(dsn));
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
    await store.create(storeResource(namespaces), { apiVersion: 'v1', kind: 'Namespace', metadata: { name }, status: { phase: 'Active' } }).catch((error: { reason?: string }) => {
      if (error.reason !== 'AlreadyExists') throw error;
    });
  }
}

/**
 * The embedded server, on the port it had last time when none is given: DSNs users put in Secrets keep
 * working across restarts (a taken port falls back to a free one).
 */
async function startPostgres(options: LocalModeOptions): Promise<EmbeddedPostgres> {
  const start = (port?: number) => startEmbeddedPostgres({ major: 17, dir: join(options.dataDir, 'postgres'), ...(port ? { port } : {}) });
  if (options.postgresPort) return start(options.postgresPort);
  const dsnFile = join(options.dataDir, 'postgres.dsn');
  const previous = existsSync(dsnFile) ? Number(new URL(readFileSync(dsnFile, 'utf8').trim()).port) : undefined;
  if (!previous) return start();
  return start(previous).catch((error: unknown) => {
    options.log.warn({ err: error, port: previous }, 'the embedded PostgreSQL server cannot have its previous port; it takes another');
    return start();
  });
}

export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  mkdirSync(options.dataDir, { recursive: true });
  const postgres = await startPostgres(options);
  const stops: (() => Promise<unknown>)[] = [() => postgres.stop()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((error: unknown) => options.log.error({ err: error }, 'while stopping'));
  };
  try {
    writeFileSync(join(options.dataDir, 'postgres.dsn'), `${postgres.dsn}\n`, { mode: 0o600 });
    const storeDsn = options.storeDsn ?? (await ensureDatabase(postgres.dsn, 'apiserver'));
    const store = await ObjectStore.open(storeDsn);
    stops.push(() => store.close());
    const election = new LeaderElection(storeDsn, options.log);
    election.start();
    stops.push(() => election.stop());
    await seedNamespaces(store);
    const tls = await servingCertificateIn(join(options.dataDir, 'tls'), ['localhost', '127.0.0.1']);
    if (tls.created) options.log.info({ dir: join(options.dataDir, 'tls') }, 'no serving certificate given: generated a self-signed CA and certificate');
    const token = persistentSecret(join(options.dataDir, 'token'));
    const metrics = new Metrics();
    const catalogs = new CatalogRegistry({ observe: metrics.observeCatalog });
    metrics.collectPools(() => catalogs.poolStats());
    stops.push(() => catalogs.close());
    const locks = new ObjectLocks();
    const events = storeEvents(store, (error) => options.log.warn({ err: error }, 'recording an Event failed'));
    const services = { store, secrets: storeSecrets(store), catalogs, events, log: options.log };
    const ours = ourKinds(services);
    const served: ResourceKind[] = [...coreKinds, ...ours];
    const reconciler = new Reconciler(ours, services, locks, () => election.isLeader());
    reconciler.start(options.resyncIntervalMs ?? 10_000);
    stops.push(() => reconciler.stop());
    const app = createApp({
      log: options.log,
      metrics,
      authenticate: bearerTokenAuthentication(token, { name: 'local-admin', groups: ['system:masters', 'system:authenticated'] }),
      routers: [discoveryRouter([coreDiscovery, ourDiscovery]), openapiRouter({ 'api/v1': serve(coreOpenAPIDocument()) }), ...served.map((kind) => resourceRouter(kind, store, locks))],
      ready: async () => {
        await store.currentResourceVersion();
        return true;
      },
    });
    const server: Server = await listen(app, tls, options.port);
    stops.push(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as AddressInfo).port;
    const kubeconfig = join(options.dataDir, 'kubeconfig');
    writeKubeconfig(kubeconfig, { server: `https://127.0.0.1:${port}`, ca: tls.ca, token });
    return { port, kubeconfig, postgresDsn: postgres.dsn, storeDsn, isLeader: () => election.isLeader(), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
