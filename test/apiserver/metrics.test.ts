// /metrics: what a Prometheus scrape shows after requests through the app (over the real object store) and
// after catalog reads and batches against a real PostgreSQL server.
import test from 'ava';
import { bearerTokenAuthentication } from '../../apiserver/authentication.ts';
import { Metrics, requestInfo } from '../../apiserver/metrics.ts';
import { coreKinds } from '../../reconcile/kinds/core.ts';
import { resourceRouter } from '../../apiserver/rest.ts';
import { CatalogRegistry } from '../../storage/catalog/registry.ts';
import { statement } from '../../storage/catalog/statements.ts';
import { freezePlan } from '../../storage/catalog/plan.ts';
import { ObjectStore } from '../../storage/objects/store.ts';
import { httpsRequest, serveApp } from '../support/http.ts';
import { startTestServer, unique, type TestServer } from '../support/postgres.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer('pg17');
});
test.after.always(async () => server?.stop());

const requestCases: {
  path: string;
  method?: string;
  query?: Record<string, string>;
  contentType?: string;
  verb: string;
  resource: string;
  subresource?: string;
}[] = [
  { path: '/api/v1/namespaces/default/secrets', verb: 'LIST', resource: 'secrets' },
  { path: '/api/v1/secrets', verb: 'LIST', resource: 'secrets' },
  { path: '/api/v1/namespaces/default/secrets', query: { watch: '1' }, verb: 'WATCH', resource: 'secrets' },
  { path: '/api/v1/namespaces/default/secrets', query: { watch: 'false' }, verb: 'LIST', resource: 'secrets' },
  { path: '/api/v1/watch/namespaces/default/secrets', verb: 'WATCH', resource: 'secrets' },
  { path: '/api/v1/namespaces/default/secrets/s', verb: 'GET', resource: 'secrets' },
  { path: '/api/v1/namespaces/default/secrets', method: 'POST', verb: 'POST', resource: 'secrets' },
  { path: '/api/v1/namespaces/default/secrets/s', method: 'PUT', verb: 'PUT', resource: 'secrets' },
  { path: '/api/v1/namespaces/default/secrets/s', method: 'PATCH', verb: 'PATCH', resource: 'secrets' },
  {
    path: '/api/v1/namespaces/default/secrets/s',
    method: 'PATCH',
    contentType: 'application/apply-patch+yaml',
    verb: 'APPLY',
    resource: 'secrets',
  },
  {
    path: '/api/v1/namespaces/default/secrets',
    query: { fieldSelector: 'metadata.name=s', watch: 'true' },
    verb: 'WATCH',
    resource: 'secrets',
  },
  { path: '/api/v1/namespaces/default/secrets/s', method: 'DELETE', verb: 'DELETE', resource: 'secrets' },
  { path: '/api/v1/namespaces/default/secrets', method: 'DELETE', verb: 'DELETE', resource: 'secrets' },
  { path: '/api/v1/namespaces', verb: 'LIST', resource: 'namespaces' },
  { path: '/api/v1/namespaces/default', verb: 'GET', resource: 'namespaces' },
  { path: '/api/v1/namespaces/default/status', method: 'PUT', verb: 'PUT', resource: 'namespaces', subresource: 'status' },
  {
    path: '/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles/app-user/status',
    method: 'PATCH',
    verb: 'PATCH',
    resource: 'databaseroles',
    subresource: 'status',
  },
  { path: '/apis/postgres.databases.dinhloc.dev/v1alpha1/databaseclusters/main-cluster', verb: 'GET', resource: 'databaseclusters' },
  { path: '/apis/postgres.databases.dinhloc.dev/v1alpha1', verb: 'GET', resource: '' },
  { path: '/apis', verb: 'GET', resource: '' },
  { path: '/api/v1', verb: 'GET', resource: '' },
  { path: '/openapi/v3', verb: 'GET', resource: '' },
  { path: '/healthz', verb: 'GET', resource: '' },
  { path: '/metrics', verb: 'GET', resource: '' },
];

for (const c of requestCases) {
  test(`request info: ${c.method ?? 'GET'} ${c.path}${c.query ? `?${new URLSearchParams(c.query)}` : ''} is ${c.verb} ${c.resource || '(non-resource)'}`, (t) => {
    t.deepEqual(requestInfo(c.method ?? 'GET', c.path, new URLSearchParams(c.query ?? {}), c.contentType), {
      verb: c.verb,
      resource: c.resource,
      subresource: c.subresource ?? '',
    });
  });
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in a text-format scrape. */
function samples(scrape: string, name: string): Sample[] {
  return scrape.split('\n').flatMap((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) return [];
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    return [{ labels, value: Number(match[3]) }];
  });
}

/** The value of the sample whose labels include `labels`; undefined when there is none. */
function valueOf(scrape: string, name: string, labels: Record<string, string>): number | undefined {
  return samples(scrape, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function serveWithMetrics(t: { teardown(fn: () => unknown): void }) {
  const store = await ObjectStore.open(server.superuserDsn, { schema: unique('metrics') });
  const metrics = new Metrics();
  const token = 'test-token';
  const app = await serveApp({
    routers: coreKinds.map((kind) => resourceRouter(kind, store)),
    authenticate: bearerTokenAuthentication(token, { name: 'admin', groups: ['system:masters'] }),
    metrics,
  });
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  const call = (method: string, path: string, body?: unknown, authorized = true) =>
    httpsRequest(`${app.base}${path}`, app.tls.ca, {
      method,
      headers: { 'content-type': 'application/json', ...(authorized ? { authorization: `Bearer ${token}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return { metrics, call };
}

test('a scrape counts requests by verb, resource and code, and times them', async (t) => {
  const { call } = await serveWithMetrics(t);
  const secrets = '/api/v1/namespaces/default/secrets';
  const secret = (name: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { password: 'x' } });
  t.is((await call('POST', secrets, secret('a'))).status, 201);
  t.is((await call('POST', secrets, secret('b'))).status, 201);
  t.is((await call('POST', secrets, secret('a'))).status, 409);
  t.is((await call('GET', `${secrets}/a`)).status, 200);
  t.is((await call('GET', `${secrets}/missing`)).status, 404);
  t.is((await call('GET', secrets)).status, 200);
  t.is((await call('GET', '/api/v1/secrets')).status, 200);
  t.is((await call('GET', `${secrets}?watch=1&timeoutSeconds=1`)).status, 200);
  t.is((await call('DELETE', secrets)).status, 200);
  t.is((await call('GET', secrets, undefined, false)).status, 401);
  t.is((await call('GET', '/apis/nothing.example/v1/namespaces/x/things')).status, 404);
  t.is((await call('GET', '/healthz', undefined, false)).status, 200);
  t.is((await call('GET', '/metrics', undefined, false)).status, 401, '/metrics needs the token like every path but health');

  const res = await call('GET', '/metrics');
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const scrape = res.text;
  const count = (verb: string, resource: string, code: number) =>
    valueOf(scrape, 'apiserver_request_total', { verb, resource, subresource: '', code: String(code) });
  t.is(count('POST', 'secrets', 201), 2);
  t.is(count('POST', 'secrets', 409), 1);
  t.is(count('GET', 'secrets', 200), 1);
  t.is(count('GET', 'secrets', 404), 1);
  t.is(count('LIST', 'secrets', 200), 2);
  t.is(count('WATCH', 'secrets', 200), 1);
  t.is(count('DELETE', 'secrets', 200), 1);
  // Before a router matched, the resource is not trusted: no label value comes from an unauthenticated or unknown path.
  t.is(count('LIST', '', 401), 1);
  t.is(count('LIST', '', 404), 1);
  t.is(count('GET', '', 200), 1, '/healthz');
  t.is(count('GET', '', 401), 1, '/metrics without a token');
  t.false(scrape.includes('things'));

  const durations = (verb: string, resource: string) => valueOf(scrape, 'apiserver_request_duration_seconds_count', { verb, resource });
  t.is(durations('POST', 'secrets'), 3);
  t.is(durations('LIST', 'secrets'), 2);
  t.is(durations('WATCH', 'secrets'), undefined, 'watches are long-running, not timed');
  t.is(valueOf(scrape, 'apiserver_longrunning_requests', { verb: 'WATCH', resource: 'secrets' }), 0, 'the watch ended');
  t.true(samples(scrape, 'process_cpu_seconds_total').length === 1, 'process metrics are on the same registry');
});

test('catalog snapshots and batches are timed, and pool connections read at scrape time', async (t) => {
  const metrics = new Metrics();
  const catalogs = new CatalogRegistry({ observe: metrics.observeCatalog });
  metrics.collectPools(() => catalogs.poolStats());
  t.teardown(() => catalogs.close());

  const main = catalogs.catalogFor('main-cluster', server.superuserDsn);
  await main.snapshot({ roles: ['nobody_here'], databases: [] });
  const role = unique('metrics_role');
  await main.apply(freezePlan([statement(null, `CREATE ROLE ${role}`, `creating role ${role}`)], [], []));
  await main.apply(freezePlan([statement(null, `DROP ROLE ${role}`, `dropping role ${role}`)], [], []));
  const unreachable = catalogs.catalogFor('gone-cluster', 'postgres://nobody@127.0.0.1:1/postgres');
  await t.throwsAsync(unreachable.snapshot({ roles: [], databases: [] }));

  const scrape = await metrics.registry.metrics();
  const operations = (kind: string, ok: boolean) => valueOf(scrape, 'catalog_operation_duration_seconds_count', { kind, ok: String(ok) });
  t.is(operations('snapshot', true), 1);
  t.is(operations('snapshot', false), 1);
  t.is(operations('batch', true), 2);
  t.is(operations('batch', false), undefined);

  const pool = (cluster: string, state: string) => valueOf(scrape, 'catalog_pool_connections', { cluster, database: 'postgres', state });
  t.true(pool('main-cluster', 'total')! >= 1, scrape);
  t.is(pool('main-cluster', 'total'), pool('main-cluster', 'idle'), 'nothing runs now: every connection is idle');
  t.is(pool('main-cluster', 'waiting'), 0);
  t.not(pool('gone-cluster', 'total'), undefined, 'a pool that never connected is listed too');

  await catalogs.close();
  t.deepEqual(samples(await metrics.registry.metrics(), 'catalog_pool_connections'), [], 'closed catalogs leave the scrape');
});

test('two apps in one process keep their own counts', async (t) => {
  const first = await serveWithMetrics(t);
  const second = await serveWithMetrics(t);
  await first.call('GET', '/api/v1/namespaces/default/secrets');
  const scrape = await second.metrics.registry.metrics();
  t.is(valueOf(scrape, 'apiserver_request_total', { verb: 'LIST', resource: 'secrets' }), undefined);
  t.is(valueOf(await first.metrics.registry.metrics(), 'apiserver_request_total', { verb: 'LIST', resource: 'secrets', code: '200' }), 1);
});

test("a scrape shows how many loops run on this replica and when each cluster's last pass started", async (t) => {
  const metrics = new Metrics();
  let loops = 3;
  metrics.collectLoops(() => loops);
  metrics.countPass('prod', Date.parse('2026-07-01T12:00:00.250Z'));
  metrics.countPass('prod', Date.parse('2026-07-01T12:00:10.500Z'));
  let text = await metrics.registry.metrics();
  t.regex(text, /^reconcile_loops 3$/m);
  t.regex(text, /^reconcile_passes_total\{cluster="prod"\} 2$/m);
  t.regex(text, /^reconcile_last_pass_start_timestamp_seconds\{cluster="prod"\} 1782907210\.5$/m);
  loops = 0;
  text = await metrics.registry.metrics();
  t.regex(text, /^reconcile_loops 0$/m, 'read at each scrape');
});

test('Events dropped are counted: each report of the queue adds its count', async (t) => {
  const metrics = new Metrics();
  t.regex(await metrics.registry.metrics(), /^events_dropped_total 0$/m);
  metrics.countDroppedEvents(49);
  metrics.countDroppedEvents(3);
  t.regex(await metrics.registry.metrics(), /^events_dropped_total 52$/m);
});
