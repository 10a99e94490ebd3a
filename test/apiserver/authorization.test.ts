// What a user may do: the attributes kube-apiserver would find in each request of ours, the 403 it would give,
// the middleware's order of decisions over real HTTPS, how long review answers are kept and how failures are told.
import Router from '@koa/router';
import { ApiException, type V1SubjectAccessReviewSpec, type V1SubjectAccessReviewStatus } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { bearerTokenAuthentication, type User } from '../../apiserver/authentication.ts';
import {
  authorization,
  cachedAccessReview,
  forbiddenError,
  nameFromFieldSelector,
  requestAttributes,
  subjectAccessReviewSpec,
  type AccessReview,
  type RequestAttributes,
  type ResourceAttributes,
} from '../../apiserver/authorization.ts';
import { cachedFor, failureOf } from '../../storage/kubernetes/delegation.ts';
import { httpsRequest, serveApp } from '../support/http.ts';

const group = 'postgres.databases.dinhloc.dev';
const base = `/apis/${group}/v1alpha1`;

function resource(attributes: Partial<ResourceAttributes> & Pick<ResourceAttributes, 'verb' | 'resource'>): RequestAttributes {
  return { resourceAttributes: { namespace: '', group, version: 'v1alpha1', subresource: '', name: '', ...attributes } };
}

function nonResource(verb: string, path: string): RequestAttributes {
  return { nonResourceAttributes: { path, verb } };
}

const roles = { namespace: 'team-a', resource: 'databaseroles' };

const cases: [string, string, RequestAttributes][] = [
  // cluster-scoped DatabaseClusters
  ['GET', `${base}/databaseclusters`, resource({ verb: 'list', resource: 'databaseclusters' })],
  ['GET', `${base}/databaseclusters/main`, resource({ verb: 'get', resource: 'databaseclusters', name: 'main' })],
  ['HEAD', `${base}/databaseclusters/main`, resource({ verb: 'get', resource: 'databaseclusters', name: 'main' })],
  ['POST', `${base}/databaseclusters`, resource({ verb: 'create', resource: 'databaseclusters' })],
  [
    'PUT',
    `${base}/databaseclusters/main/status`,
    resource({ verb: 'update', resource: 'databaseclusters', name: 'main', subresource: 'status' }),
  ],
  ['DELETE', `${base}/databaseclusters/main`, resource({ verb: 'delete', resource: 'databaseclusters', name: 'main' })],
  ['DELETE', `${base}/databaseclusters`, resource({ verb: 'deletecollection', resource: 'databaseclusters' })],
  ['GET', `${base}/databaseclusters?watch=true`, resource({ verb: 'watch', resource: 'databaseclusters' })],
  ['GET', `${base}/watch/databaseclusters`, resource({ verb: 'watch', resource: 'databaseclusters' })],
  // namespaced DatabaseRoles
  ['GET', `${base}/namespaces/team-a/databaseroles`, resource({ verb: 'list', ...roles })],
  ['GET', `${base}/databaseroles`, resource({ verb: 'list', resource: 'databaseroles' })],
  ['GET', `${base}/namespaces/team-a/databaseroles/app`, resource({ verb: 'get', ...roles, name: 'app' })],
  ['POST', `${base}/namespaces/team-a/databaseroles`, resource({ verb: 'create', ...roles })],
  ['PUT', `${base}/namespaces/team-a/databaseroles/app`, resource({ verb: 'update', ...roles, name: 'app' })],
  ['PATCH', `${base}/namespaces/team-a/databaseroles/app`, resource({ verb: 'patch', ...roles, name: 'app' })],
  ['GET', `${base}/namespaces/team-a/databaseroles/app/status`, resource({ verb: 'get', ...roles, name: 'app', subresource: 'status' })],
  [
    'PATCH',
    `${base}/namespaces/team-a/databaseroles/app/status`,
    resource({ verb: 'patch', ...roles, name: 'app', subresource: 'status' }),
  ],
  ['DELETE', `${base}/namespaces/team-a/databaseroles/app`, resource({ verb: 'delete', ...roles, name: 'app' })],
  ['DELETE', `${base}/namespaces/team-a/databaseroles`, resource({ verb: 'deletecollection', ...roles })],
  ['OPTIONS', `${base}/namespaces/team-a/databaseroles`, resource({ verb: '', ...roles })],
  // watch by query, as ListOptions reads `watch`, and by the legacy /watch/ prefix
  ['GET', `${base}/namespaces/team-a/databaseroles?watch=true`, resource({ verb: 'watch', ...roles })],
  ['GET', `${base}/namespaces/team-a/databaseroles?watch=1`, resource({ verb: 'watch', ...roles })],
  ['GET', `${base}/namespaces/team-a/databaseroles?watch=`, resource({ verb: 'watch', ...roles })],
  ['GET', `${base}/namespaces/team-a/databaseroles?watch=false`, resource({ verb: 'list', ...roles })],
  ['GET', `${base}/namespaces/team-a/databaseroles?watch=FALSE`, resource({ verb: 'list', ...roles })],
  ['GET', `${base}/namespaces/team-a/databaseroles?watch=0`, resource({ verb: 'list', ...roles })],
  ['GET', `${base}/namespaces/team-a/databaseroles?watch=0&watch=1`, resource({ verb: 'list', ...roles })],
  ['GET', `${base}/watch/namespaces/team-a/databaseroles`, resource({ verb: 'watch', ...roles })],
  ['GET', `${base}/watch/namespaces/team-a/databaseroles/app`, resource({ verb: 'watch', ...roles, name: 'app' })],
  ['GET', `${base}/watch/databaseroles`, resource({ verb: 'watch', resource: 'databaseroles' })],
  // a name pinned by fieldSelector (kubectl get databaserole app -w) is the request's name
  [
    'GET',
    `${base}/namespaces/team-a/databaseroles?fieldSelector=metadata.name%3Dapp&watch=true`,
    resource({ verb: 'watch', ...roles, name: 'app' }),
  ],
  [
    'GET',
    `${base}/namespaces/team-a/databaseroles?fieldSelector=metadata.name%3D%3Dapp`,
    resource({ verb: 'list', ...roles, name: 'app' }),
  ],
  ['GET', `${base}/namespaces/team-a/databaseroles?fieldSelector=metadata.name!%3Dapp`, resource({ verb: 'list', ...roles })],
  ['DELETE', `${base}/namespaces/team-a/databaseroles?fieldSelector=metadata.name%3Dapp`, resource({ verb: 'deletecollection', ...roles })],
  // core kinds and a namespace's own subresources
  [
    'GET',
    '/api/v1/namespaces/team-a/secrets/app-password',
    resource({ verb: 'get', namespace: 'team-a', group: '', version: 'v1', resource: 'secrets', name: 'app-password' }),
  ],
  [
    'GET',
    '/api/v1/namespaces/team-a',
    resource({ verb: 'get', namespace: 'team-a', group: '', version: 'v1', resource: 'namespaces', name: 'team-a' }),
  ],
  [
    'PUT',
    '/api/v1/namespaces/team-a/finalize',
    resource({
      verb: 'update',
      namespace: 'team-a',
      group: '',
      version: 'v1',
      resource: 'namespaces',
      name: 'team-a',
      subresource: 'finalize',
    }),
  ],
  ['GET', '/api/v1/namespaces', resource({ verb: 'list', group: '', version: 'v1', resource: 'namespaces' })],
  // discovery, OpenAPI, metrics and the rest: non-resource paths
  ['GET', '/apis', nonResource('get', '/apis')],
  ['GET', `/apis/${group}`, nonResource('get', `/apis/${group}`)],
  ['GET', base, nonResource('get', base)],
  ['GET', `${base}/`, nonResource('get', `${base}/`)],
  ['GET', '/api', nonResource('get', '/api')],
  ['GET', '/api/v1', nonResource('get', '/api/v1')],
  ['GET', '/openapi/v2', nonResource('get', '/openapi/v2')],
  ['GET', `/openapi/v3/apis/${group}/v1alpha1`, nonResource('get', `/openapi/v3/apis/${group}/v1alpha1`)],
  ['GET', '/metrics', nonResource('get', '/metrics')],
  ['POST', '/healthz', nonResource('post', '/healthz')],
  ['GET', '/', nonResource('get', '/')],
];

for (const [method, url, expected] of cases) {
  test(`attributes of ${method} ${url}`, (t) => {
    const { pathname, search } = new URL(url, 'https://localhost');
    t.deepEqual(requestAttributes(method, decodeURIComponent(pathname), new URLSearchParams(search)), expected);
  });
}

test('a /watch/ prefix with nothing after it cannot be read, as kube-apiserver answers it (500)', (t) => {
  t.throws(() => requestAttributes('GET', `${base}/watch`, new URLSearchParams()), { message: /unable to determine kind and namespace/ });
});

const selectorCases: [string, string | undefined][] = [
  ['metadata.name=app', 'app'],
  ['metadata.name==app', 'app'],
  ['metadata.namespace=team-a,metadata.name=app', 'app'],
  ['metadata.name=b,metadata.name=a', 'a'],
  ['metadata.name!=app', undefined],
  ['status.phase=Ready', undefined],
  ['metadata.name=a\\,b', 'a,b'],
  ['metadata.name=a,b', undefined],
  ['metadata.name=a\\q', undefined],
  ['metadata.name=..', undefined],
  ['metadata.name=a%2f', undefined],
  ['', undefined],
];

for (const [selector, name] of selectorCases) {
  test(`the name fieldSelector=${JSON.stringify(selector)} pins: ${name ?? 'none'}`, (t) => {
    t.is(nameFromFieldSelector(selector), name);
  });
}

const alice: User = { name: 'alice', groups: ['dev', 'system:authenticated'] };

const forbiddenCases: [string, RequestAttributes, string | undefined, string, object][] = [
  [
    'a named object in a namespace',
    resource({ verb: 'get', namespace: 'ns', resource: 'databaseroles', name: 'x' }),
    undefined,
    `databaseroles.${group} "x" is forbidden: User "alice" cannot get resource "databaseroles" in API group "${group}" in the namespace "ns"`,
    { name: 'x', group, kind: 'databaseroles' },
  ],
  [
    'a list at the cluster scope, with the review’s reason',
    resource({ verb: 'list', resource: 'databaseclusters' }),
    'no RBAC policy matched',
    `databaseclusters.${group} is forbidden: User "alice" cannot list resource "databaseclusters" in API group "${group}" at the cluster scope: no RBAC policy matched`,
    { group, kind: 'databaseclusters' },
  ],
  [
    'a subresource',
    resource({ verb: 'update', namespace: 'ns', resource: 'databaseroles', name: 'x', subresource: 'status' }),
    undefined,
    `databaseroles.${group} "x" is forbidden: User "alice" cannot update resource "databaseroles/status" in API group "${group}" in the namespace "ns"`,
    { name: 'x', group, kind: 'databaseroles' },
  ],
  [
    'a core kind',
    resource({ verb: 'get', namespace: 'ns', group: '', version: 'v1', resource: 'secrets', name: 's' }),
    undefined,
    'secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "ns"',
    { name: 's', kind: 'secrets' },
  ],
  ['a path', nonResource('get', '/metrics'), undefined, 'forbidden: User "alice" cannot get path "/metrics"', {}],
  [
    'a path that looks like HTML',
    nonResource('get', '/<script>'),
    undefined,
    'forbidden: User "alice" cannot get path "/&lt;script&gt;"',
    {},
  ],
];

for (const [title, attributes, reason, message, details] of forbiddenCases) {
  test(`403 for ${title}, worded as kube-apiserver words it`, (t) => {
    const status = forbiddenError(alice, attributes, reason).toStatus();
    t.deepEqual(status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason: 'Forbidden',
      details,
      code: 403,
    });
  });
}

test('the review spec: the user whole, extra keys in order, then the attributes', (t) => {
  const user: User = { name: 'bob', uid: 'u1', groups: ['g'], extra: { scopes: ['r'], 'acme.com/team': ['t'] } };
  const attributes = nonResource('get', '/apis');
  const spec = subjectAccessReviewSpec(user, attributes);
  t.deepEqual(spec, {
    user: 'bob',
    uid: 'u1',
    groups: ['g'],
    extra: { 'acme.com/team': ['t'], scopes: ['r'] },
    nonResourceAttributes: { path: '/apis', verb: 'get' },
  });
  t.deepEqual(Object.keys(spec.extra!), ['acme.com/team', 'scopes']);
  t.deepEqual(subjectAccessReviewSpec(alice, attributes), { user: 'alice', groups: alice.groups, ...attributes });
});

// --- the middleware over HTTPS -----------------------------------------------------------------------------------

async function serve(t: ExecutionContext, user: User, review: AccessReview) {
  const router = new Router();
  router.all('/{*rest}', (ctx) => {
    ctx.body = { served: ctx.path };
  });
  const served = await serveApp({
    routers: [router],
    authenticate: bearerTokenAuthentication('token', user),
    authorize: authorization({ review, log: pino({ level: 'silent' }) }),
  });
  t.teardown(served.close);
  const get = (path: string) => httpsRequest(`${served.base}${path}`, served.tls.ca, { headers: { authorization: 'Bearer token' } });
  return { ...served, get };
}

function recording(answer: (spec: V1SubjectAccessReviewSpec) => V1SubjectAccessReviewStatus) {
  const asked: V1SubjectAccessReviewSpec[] = [];
  const review: AccessReview = async (spec) => {
    asked.push(spec);
    return answer(spec);
  };
  return { asked, review };
}

test('an allowed request is served, after a review of what it asks', async (t) => {
  const { asked, review } = recording(() => ({ allowed: true }));
  const { get } = await serve(t, alice, review);
  const res = await get(`${base}/namespaces/team-a/databaseroles/app?fieldSelector=x`);
  t.is(res.status, 200);
  t.deepEqual(asked, [subjectAccessReviewSpec(alice, resource({ verb: 'get', ...roles, name: 'app' }))]);
});

test('a denied request is 403 with the review’s reason, and never reaches the handler', async (t) => {
  const { review } = recording(() => ({ allowed: false, denied: true, reason: 'RBAC: role "viewer" not found' }));
  const { get } = await serve(t, alice, review);
  const res = await get(`${base}/namespaces/ns/databaseroles/x`);
  t.is(res.status, 403);
  t.like(res.json(), {
    kind: 'Status',
    reason: 'Forbidden',
    code: 403,
    message: `databaseroles.${group} "x" is forbidden: User "alice" cannot get resource "databaseroles" in API group "${group}" in the namespace "ns": RBAC: role "viewer" not found`,
  });
});

test('no opinion from the review is a refusal too', async (t) => {
  const { review } = recording(() => ({ allowed: false }));
  const { get } = await serve(t, alice, review);
  const res = await get('/metrics');
  t.is(res.status, 403);
  t.is(res.json().message, 'forbidden: User "alice" cannot get path "/metrics"');
});

test('system:masters are not reviewed; health paths are answered before anyone is', async (t) => {
  const { asked, review } = recording(() => ({ allowed: false }));
  const { get, base: url, tls } = await serve(t, { name: 'admin', groups: ['system:masters', 'system:authenticated'] }, review);
  t.is((await get(`${base}/databaseclusters`)).status, 200);
  for (const path of ['/healthz', '/livez', '/readyz']) t.is((await httpsRequest(`${url}${path}`, tls.ca)).status, 200, path);
  t.deepEqual(asked, []);
});

const failures: [string, AccessReview][] = [
  ['a review that fails', async () => Promise.reject(new Error('connect ECONNREFUSED'))],
  ['a review answering both allowed and denied', async () => ({ allowed: true, denied: true })],
];

for (const [title, review] of failures) {
  test(`${title} is 500 InternalError, never allowed`, async (t) => {
    const { get } = await serve(t, alice, review);
    const res = await get(`${base}/databaseclusters`);
    t.is(res.status, 500);
    t.like(res.json(), { kind: 'Status', reason: 'InternalError', code: 500 });
    t.notRegex(res.text, /ECONNREFUSED|served/);
  });
}

test('a percent-encoded path is reviewed decoded, as kube-apiserver reads it', async (t) => {
  const { asked, review } = recording(() => ({ allowed: true }));
  const { get } = await serve(t, alice, review);
  await get(`${base}/namespaces/team%2Da/databaseroles`);
  t.deepEqual(asked, [subjectAccessReviewSpec(alice, resource({ verb: 'list', ...roles }))]);
  t.is((await get('/%zz')).status, 400);
});

// --- how long answers are kept -------------------------------------------------------------------------------------

test('review answers are kept 10 s per user and attributes, allowed or denied; a failed review is asked again', async (t) => {
  let time = 0;
  let failNext = false;
  const { asked, review } = recording((spec) => {
    if (failNext) {
      failNext = false;
      throw new Error('timeout');
    }
    return { allowed: spec.user === 'alice' };
  });
  const cached = cachedAccessReview(review, () => time);
  const get = resource({ verb: 'get', ...roles, name: 'app' });
  const asAlice = subjectAccessReviewSpec(alice, get);
  const asBob = subjectAccessReviewSpec({ ...alice, name: 'bob' }, get);
  const otherName = subjectAccessReviewSpec(alice, resource({ verb: 'get', ...roles, name: 'other' }));
  t.true((await cached(asAlice)).allowed);
  t.false((await cached(asBob)).allowed);
  await Promise.all([cached(asAlice), cached(asBob), cached({ ...asAlice })]);
  t.is(asked.length, 2);
  await cached(otherName);
  t.is(asked.length, 3);
  time = 9_999;
  await cached(asBob);
  t.is(asked.length, 3);
  time = 10_000;
  await cached(asBob);
  t.is(asked.length, 4);
  failNext = true;
  time = 20_000;
  await t.throwsAsync(cached(asAlice));
  t.true((await cached(asAlice)).allowed);
  t.is(asked.length, 6);
});

test('at most maxEntries answers are kept: the oldest go first', async (t) => {
  const loaded: number[] = [];
  const cached = cachedFor(async (n: number) => loaded.push(n), { ttlMs: 10_000, key: String, maxEntries: 2, now: () => 0 });
  await cached(1);
  await cached(2);
  await cached(3);
  await cached(3);
  await cached(2);
  await cached(1);
  t.deepEqual(loaded, [1, 2, 3, 1]);
});

test('a failed call is logged by its code and Status message, never with the request or the whole response', (t) => {
  const body = JSON.stringify({ kind: 'Status', message: 'tokenreviews.authentication.k8s.io is forbidden', code: 403 });
  const error = new ApiException(403, 'Unknown API Status Code!', body, { authorization: 'Bearer secret-token' });
  t.is(failureOf(error), 'HTTP 403: tokenreviews.authentication.k8s.io is forbidden');
  t.is(failureOf(new ApiException(401, 'Unauthorized', undefined, {})), 'HTTP 401');
  t.is(failureOf(new ApiException(502, 'Unknown API Status Code!', '<html>bad gateway</html>', {})), 'HTTP 502');
  t.is(failureOf(new Error('connect ECONNREFUSED 10.0.0.1:443')), 'connect ECONNREFUSED 10.0.0.1:443');
});
