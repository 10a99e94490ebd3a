// Prometheus metrics on a registry of their own (several apps may live in one process, as in tests): requests
// by verb, resource and code, their duration, catalog reads and batches, connection pools, process metrics.
import Router from '@koa/router';
import type Koa from 'koa';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CatalogEvent, PoolStats } from '../storage/catalog/server.ts';
import { applyPatchType } from './request.ts';
import { requestAttributes, type RequestAttributes } from './authorization.ts';

/** A request's labels, as kube-apiserver's metrics give them. */
export interface RequestInfo {
  /** GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE (a collection's too); the method for other paths. */
  verb: string;
  /** The resource's plural; "" for non-resource paths (health, discovery, OpenAPI, /metrics). */
  resource: string;
  subresource: string;
}

// kube-apiserver's buckets for apiserver_request_duration_seconds.
const requestBuckets = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
const catalogBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The request as requestAttributes() finds it (the rules of kube-apiserver's RequestInfoFactory), with the verb
 * kube-apiserver's metrics report (endpoints/metrics CleanVerb): the HTTP method, but LIST and WATCH for
 * collections and APPLY for a server-side apply.
 */
export function requestInfo(method: string, path: string, query: URLSearchParams, contentType = ''): RequestInfo {
  const nonResource = { verb: method.toUpperCase(), resource: '', subresource: '' };
  let attributes: RequestAttributes;
  try {
    attributes = requestAttributes(method.toUpperCase(), path, query);
  } catch {
    return nonResource; // a path kube-apiserver answers 500 to: counted without a resource
  }
  if (!('resourceAttributes' in attributes)) return nonResource;
  const { verb, resource, subresource } = attributes.resourceAttributes;
  const reported =
    verb === 'watch'
      ? 'WATCH'
      : verb === 'list'
        ? 'LIST'
        : contentType.startsWith(applyPatchType) && method.toUpperCase() === 'PATCH'
          ? 'APPLY'
          : method.toUpperCase();
  return { verb: reported, resource, subresource };
}

export class Metrics {
  /** Scraped by GET /metrics; tests may read it directly. */
  readonly registry = new Registry();
  private readonly requests: Counter<'verb' | 'resource' | 'subresource' | 'code'>;
  private readonly durations: Histogram<'verb' | 'resource' | 'subresource'>;
  private readonly longRunning: Gauge<'verb' | 'resource' | 'subresource'>;
  private readonly catalog: Histogram<'kind' | 'ok'>;
  private readonly passes: Counter<'cluster'>;
  private readonly lastPass: Gauge<'cluster'>;
  private readonly droppedEvents: Counter;
  private readonly poolSources: (() => (PoolStats & { cluster: string })[])[] = [];
  private readonly loopSources: (() => number)[] = [];
  private readonly backingOffSources: (() => number)[] = [];

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'apiserver_request_total',
      help: 'Requests answered, by verb, resource, subresource and HTTP code.',
      labelNames: ['verb', 'resource', 'subresource', 'code'],
      registers,
    });
    this.durations = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Time from the request to the end of its response, by verb, resource and subresource; watches are not included.',
      labelNames: ['verb', 'resource', 'subresource'],
      buckets: requestBuckets,
      registers,
    });
    this.longRunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Watches being served now, by resource.',
      labelNames: ['verb', 'resource', 'subresource'],
      registers,
    });
    this.catalog = new Histogram({
      name: 'catalog_operation_duration_seconds',
      help: 'Live catalog snapshot reads, applied SQL batches and fingerprint reads (the drift fast path) against the DatabaseClusters, by kind and outcome.',
      labelNames: ['kind', 'ok'],
      buckets: catalogBuckets,
      registers,
    });
    this.passes = new Counter({
      name: 'reconcile_passes_total',
      help: 'Reconciler passes finished, by DatabaseCluster (run by the replica that owns it).',
      labelNames: ['cluster'],
      registers,
    });
    this.lastPass = new Gauge({
      name: 'reconcile_last_pass_start_timestamp_seconds',
      help: 'When the last finished pass of each DatabaseCluster started on this replica (Unix time).',
      labelNames: ['cluster'],
      registers,
    });
    this.droppedEvents = new Counter({
      name: 'events_dropped_total',
      help: 'Events never sent: too many were waiting to be sent, or the server was stopping.',
      registers,
    });
    // Gauges read at every scrape: the sum of what their sources say.
    const summed = (name: string, help: string, sources: (() => number)[]) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(sources.reduce((sum, read) => sum + read(), 0));
        },
      });
    summed(
      'reconcile_loops',
      'DatabaseClusters whose loop runs on this replica (in a cluster, those of the shards it holds).',
      this.loopSources,
    );
    summed(
      'reconcile_objects_backing_off',
      'Objects whose correction failed on this replica and waits for its retry (forgotten once the object is gone).',
      this.backingOffSources,
    );
    const poolSources = this.poolSources;
    new Gauge({
      name: 'catalog_pool_connections',
      help: 'Connections of each pool to a DatabaseCluster database: total, idle, and callers waiting for one.',
      labelNames: ['cluster', 'database', 'state'],
      registers,
      collect() {
        this.reset(); // pools of catalogs closed since the last scrape go away
        for (const read of poolSources) {
          for (const { cluster, database, total, idle, waiting } of read()) {
            this.set({ cluster, database, state: 'total' }, total);
            this.set({ cluster, database, state: 'idle' }, idle);
            this.set({ cluster, database, state: 'waiting' }, waiting);
          }
        }
      },
    });
  }

  /** For ClusterCatalogOptions.observe (or CatalogRegistry's options). */
  readonly observeCatalog = (event: CatalogEvent): void => {
    this.catalog.observe({ kind: event.kind, ok: String(event.ok) }, event.seconds);
  };

  /** For ReconcilerOptions.onPass. */
  readonly countPass = (cluster: string, startedAt: number): void => {
    this.passes.inc({ cluster });
    this.lastPass.set({ cluster }, startedAt / 1000);
  };

  /** For queuedEvents' onDropped. */
  readonly countDroppedEvents = (count: number): void => {
    this.droppedEvents.inc(count);
  };

  /** The number of loops running, read at every scrape, e.g. `() => reconciler.clusters().length`. */
  collectLoops(read: () => number): void {
    this.loopSources.push(read);
  }

  /** The number of objects backing off, read at every scrape, e.g. `() => reconciler.backingOff()`. */
  collectBackingOff(read: () => number): void {
    this.backingOffSources.push(read);
  }

  /** Pool counts to read at every scrape, e.g. `() => catalogs.poolStats()`. */
  collectPools(read: () => (PoolStats & { cluster: string })[]): void {
    this.poolSources.push(read);
  }

  /**
   * Wraps every request; it goes first, so the code is the one the error middleware chose. A request counts
   * when its response ends (a watch, when it closes). Only a path some router matched keeps its resource name:
   * unmatched and unauthenticated paths must not add label values at will.
   */
  readonly measure: Koa.Middleware = async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const info = requestInfo(ctx.method, ctx.path, new URLSearchParams(ctx.querystring), ctx.get('content-type'));
      const matched = (ctx as { routerPath?: string }).routerPath !== undefined;
      const labels = matched
        ? { verb: info.verb, resource: info.resource, subresource: info.subresource }
        : { verb: info.verb, resource: '', subresource: '' };
      const watch = info.verb === 'WATCH' && ctx.status < 300;
      if (watch) this.longRunning.inc(labels);
      const record = () => {
        this.requests.inc({ ...labels, code: String(ctx.res.statusCode) });
        if (watch) this.longRunning.dec(labels);
        else this.durations.observe(labels, (performance.now() - started) / 1000);
      };
      if (ctx.res.closed)
        record(); // the client went away before the answer
      else ctx.res.once('close', record);
    }
  };

  /** GET /metrics in the Prometheus text format; mounted behind authentication (kube-apiserver authorizes it too). */
  readonly router = new Router().get('/metrics', async (ctx) => {
    ctx.type = this.registry.contentType;
    ctx.body = await this.registry.metrics();
  });
}
