// What both modes run: the catalogs, the three kinds, the reconciler for the clusters this replica owns, and the
// HTTPS app. A mode brings the object store, the leader election (the store's lock, or a Lease in a cluster), in
// a cluster the shards of the clusters' loops, the Kubernetes side (its store's or the cluster's), who may ask
// (authentication, authorization) and what it serves beside our group.
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { Heartbeats } from '../lib/heartbeats.ts';
import type { ServedDocument } from '../openapi/document.ts';
import { CatalogRegistry } from '../storage/catalog/registry.ts';
import { ObjectStore } from '../storage/objects/store.ts';
import type { LeaderElection } from '../reconcile/leader.ts';
import { Retention, type RetentionOptions } from '../reconcile/retention.ts';
import { ownedByLeader, Reconciler, type ClusterOwnership } from '../reconcile/reconciler.ts';
import { closeServer, createApp, listen, replaceCertificate } from '../apiserver/app.ts';
import { discoveryRouter, type DiscoveryGroup } from '../apiserver/discovery.ts';
import { ourDiscovery } from '../apiserver/groups.ts';
import { ObjectLocks } from '../lib/locks.ts';
import { failure, type Logger } from '../lib/log.ts';
import { within } from '../lib/promises.ts';
import { Metrics } from '../apiserver/metrics.ts';
import { openapiRouter } from '../apiserver/openapi.ts';
import type { ResourceKind } from '../reconcile/kinds/resource.ts';
import { queuedEvents, type EventRecorder } from '../storage/kubernetes/events.ts';
import { cachedSecrets } from '../storage/kubernetes/secretcache.ts';
import { ourKinds } from '../reconcile/kinds/index.ts';
import { secretReader } from '../storage/kubernetes/secrets.ts';
import { resourceRouter } from '../apiserver/rest.ts';
import type { ServingCertificate } from '../apiserver/tls.ts';
import type { CoreObjects } from '../storage/kubernetes/types.ts';
import type Router from '@koa/router';

export interface ServerParts {
  store: ObjectStore;
  /**
   * Not started yet: the server starts it, and stops it last (after the reconciler). Its leader runs what one
   * replica does for all (the store's retention), and every cluster's loop unless `shards` are given.
   */
  election: LeaderElection;
  /** Which clusters' loops this replica runs (cluster mode): not started yet; stopped after the reconciler. */
  shards?: ClusterOwnership & Pick<LeaderElection, 'start' | 'stop'>;
  core: CoreObjects;
  events(onError: (error: unknown) => void): EventRecorder;
  authenticate: Koa.Middleware;
  authorize?: Koa.Middleware;
  tls: Pick<ServingCertificate, 'cert' | 'key'>;
  port: number;
  host: string;
  resyncIntervalMs: number;
  /** How the store is kept from growing: the change log's length, and Events' lifetime where they are the store's. */
  retention: RetentionOptions;
  log: Logger;
  /**
   * Kinds served beside ours (local mode's core kinds and events.k8s.io), their discovery, their OpenAPI v3
   * documents by path and the /openapi/v2 document with them, and other paths.
   */
  extra?: {
    kinds: (ours: readonly ResourceKind[]) => readonly ResourceKind[];
    discovery: readonly DiscoveryGroup[];
    openapi: Record<string, ServedDocument>;
    openapiV2?: ServedDocument;
    routers: Router[];
  };
}

export interface RunningServer {
  port: number;
  isLeader(): boolean;
  /** Serves new connections with another certificate (a renewed one). */
  replaceCertificate(tls: Pick<ServingCertificate, 'cert' | 'key'>): void;
  stop(): Promise<void>;
}

/** How long a stopping server keeps sending the Events still queued (the whole stop has 5 s). */
const eventDrainMs = 1_000;

/** How long a stopping server waits, once requests are answered, for what their writes went on with (a status stored). */
const heldWorkMs = 1_000;

/** Things to stop, last started first; a failing stop is logged and the others still run. */
export class Stops {
  private readonly list: (() => Promise<unknown>)[] = [];

  constructor(private readonly log: Logger) {}

  add(stop: () => Promise<unknown>): void {
    this.list.push(stop);
  }

  async run(): Promise<void> {
    for (const stop of this.list.splice(0).reverse())
      await stop().catch((error: unknown) => this.log.error(failure(error), 'while stopping'));
  }
}

/** Starts everything after the store; on failure, what started is stopped again (`stops` then holds nothing of it). */
export async function startServer(parts: ServerParts, stops: Stops): Promise<RunningServer> {
  const { store, election, log } = parts;
  const heartbeats = new Heartbeats();
  election.start(heartbeats.register('leader election', 2_000));
  stops.add(() => election.stop());
  const { shards } = parts;
  if (shards) {
    shards.start(heartbeats.register('shard election', 2_000));
    stops.add(() => shards.stop());
  }
  const metrics = new Metrics();
  const catalogs = new CatalogRegistry({ observe: metrics.observeCatalog });
  metrics.collectPools(() => catalogs.poolStats());
  stops.add(() => catalogs.close());
  const locks = new ObjectLocks();
  const events = queuedEvents(
    parts.events((error) => log.warn(failure(error), 'recording an Event failed')),
    (count) => {
      metrics.countDroppedEvents(count);
      log.warn({ count }, 'Events dropped: too many were waiting to be sent, or the server was stopping');
    },
  );
  // Stopped after the reconciler and the requests, which record them; local mode's go to the store, closed after.
  stops.add(() => events.drain(eventDrainMs));
  // A write that created a database asks its cluster's loop for a pass (its listener starts): called only once
  // requests are served, after the reconciler below exists.
  const nudge = (cluster: string) => reconciler.nudge([cluster]);
  // One Secret watch for the cache and the reconciler's follower.
  const secrets = cachedSecrets(secretReader(parts.core.secrets), parts.core.watchSecrets);
  stops.add(async () => secrets.stop());
  const core = { ...parts.core, watchSecrets: secrets.watch };
  const deps = { store, secrets: secrets.reader, core, catalogs, events, log, nudge };
  const ours = ourKinds(deps);
  const reconciler = new Reconciler(ours, deps, locks, shards ?? ownedByLeader(election), { onPass: metrics.countPass });
  metrics.collectLoops(() => reconciler.clusters().length);
  metrics.collectBackingOff(() => reconciler.backingOff());
  const retention = new Retention(store, parts.retention, () => election.isLeader(), log);
  retention.start(heartbeats.register('store retention', parts.retention.everyMs));
  stops.add(() => retention.stop());
  reconciler.start(parts.resyncIntervalMs, heartbeats.register('reconciler', parts.resyncIntervalMs));
  stops.add(() => reconciler.stop());
  const served = [...(parts.extra?.kinds(ours) ?? []), ...ours];
  const app = createApp({
    log,
    metrics,
    authenticate: parts.authenticate,
    ...(parts.authorize ? { authorize: parts.authorize } : {}),
    routers: [
      discoveryRouter([...(parts.extra?.discovery ?? []), ourDiscovery]),
      openapiRouter(parts.extra?.openapi ?? {}, parts.extra?.openapiV2),
      ...served.map((kind) => resourceRouter(kind, store, locks)),
      ...(parts.extra?.routers ?? []),
    ],
    stuck: () => heartbeats.stuck(),
    ready: async () => {
      await store.currentResourceVersion();
      return true;
    },
  });
  const server: Server = await listen(app, parts.tls, parts.port, parts.host);
  stops.add(() => within(locks.settled(''), heldWorkMs));
  stops.add(() => closeServer(server, app));
  return {
    port: (server.address() as AddressInfo).port,
    isLeader: () => election.isLeader(),
    replaceCertificate: (tls) => replaceCertificate(server, tls),
    stop: () => stops.run(),
  };
}
