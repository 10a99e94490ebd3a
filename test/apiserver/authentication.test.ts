// Who is asking. Local mode's bearer token: the right token gets in as the local user, anything else is 401.
// Cluster mode, over real TLS with certificates made here: a front proxy's certificate with X-Remote-* headers,
// a client certificate from the client CA, and nothing else; then the pure parts (headers, chains, ConfigMap,
// the TokenReview cache) case by case.
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { once } from 'node:events';
import { connect } from 'node:tls';
import Router from '@koa/router';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { parseAuthenticationConfig, type AuthenticationConfig } from '../../apiserver/authconfig.ts';
import {
  authentication,
  bearerToken,
  bearerTokenAuthentication,
  cachedTokenReview,
  certificateUser,
  requestHeaderUser,
  verifiedOnce,
  verifyClientCertificate,
  withAuthenticatedGroup,
  type User,
} from '../../apiserver/authentication.ts';
import { certificateAuthority, clientCertificate, issue, KeyUsageFlags, type Issued } from '../support/certificates.ts';
import { httpsRequest, serveApp } from '../support/http.ts';

const token = 'a-long-random-token';

function whoami(): Router {
  const router = new Router();
  router.get('/whoami', (ctx) => {
    ctx.body = ctx.state.user;
  });
  return router;
}

async function serveLocal() {
  return serveApp({ routers: [whoami()], authenticate: bearerTokenAuthentication(token, { name: 'admin', groups: ['system:masters'] }) });
}

const refused: [string, Record<string, string>][] = [
  ['no Authorization header', {}],
  ['a wrong token', { authorization: 'Bearer a-long-random-tokem' }],
  ['a token of another length', { authorization: 'Bearer short' }],
  ['basic authentication', { authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` }],
  ['a bare token without scheme', { authorization: token }],
];

for (const [title, headers] of refused) {
  test(`${title} is 401 Unauthorized`, async (t) => {
    const { tls, base, close } = await serveLocal();
    const res = await httpsRequest(`${base}/whoami`, tls.ca, { headers });
    t.is(res.status, 401);
    t.like(res.json(), { kind: 'Status', reason: 'Unauthorized', code: 401 });
    await close();
  });
}

test('the right token gets in as the local user; health paths need no token', async (t) => {
  const { tls, base, close } = await serveLocal();
  const res = await httpsRequest(`${base}/whoami`, tls.ca, { headers: { authorization: `Bearer ${token}` } });
  t.is(res.status, 200);
  t.deepEqual(res.json(), { name: 'admin', groups: ['system:masters'] });
  t.is((await httpsRequest(`${base}/livez`, tls.ca)).status, 200);
  await close();
});

// --- cluster mode over TLS -------------------------------------------------------------------------------------

interface Pki {
  frontProxyCA: Issued;
  clientCA: Issued;
  proxy: Issued;
  proxyThroughIntermediate: Issued;
  intermediate: Issued;
  proxyFromOtherCA: Issued;
  proxyNotAllowed: Issued;
  proxyExpired: Issued;
  proxyForServers: Issued;
  jane: Issued;
  janeFromOtherCA: Issued;
}

const hour = 3600 * 1000;

async function makePki(): Promise<Pki> {
  const frontProxyCA = await certificateAuthority('front-proxy-ca');
  const clientCA = await certificateAuthority('client-ca');
  const otherCA = await certificateAuthority('front-proxy-ca'); // same name, another key
  const intermediate = await certificateAuthority('front-proxy-intermediate', { issuer: frontProxyCA });
  return {
    frontProxyCA,
    clientCA,
    intermediate,
    proxy: await clientCertificate('CN=front-proxy-client', frontProxyCA),
    proxyThroughIntermediate: await clientCertificate('CN=front-proxy-client', intermediate),
    proxyFromOtherCA: await clientCertificate('CN=front-proxy-client', otherCA),
    proxyNotAllowed: await clientCertificate('CN=someone-else', frontProxyCA),
    proxyExpired: await clientCertificate('CN=front-proxy-client', frontProxyCA, {
      notBefore: new Date(Date.now() - 48 * hour),
      notAfter: new Date(Date.now() - 24 * hour),
    }),
    proxyForServers: await clientCertificate('CN=front-proxy-client', frontProxyCA, { usages: ['1.3.6.1.5.5.7.3.1'] }),
    jane: await clientCertificate('CN=jane, O=dev, O=ops', clientCA),
    janeFromOtherCA: await clientCertificate('CN=jane, O=system:masters', otherCA),
  };
}

const pki = makePki();

/** The ConfigMap kube-apiserver publishes for this PKI. */
async function configMapData(): Promise<Record<string, string>> {
  const { frontProxyCA, clientCA } = await pki;
  return {
    'client-ca-file': clientCA.cert,
    'requestheader-client-ca-file': frontProxyCA.cert,
    'requestheader-username-headers': '["X-Remote-User"]',
    'requestheader-uid-headers': '["X-Remote-Uid"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
    'requestheader-allowed-names': '["front-proxy-client"]',
  };
}

const silent = pino({ level: 'silent' });
const noTokens = async () => undefined;

async function serveCluster(
  t: ExecutionContext,
  config: () => AuthenticationConfig,
  reviewToken: (token: string) => Promise<User | undefined> = noTokens,
) {
  const served = await serveApp({ routers: [whoami()], authenticate: authentication({ config, reviewToken, log: silent }) });
  t.teardown(served.close);
  return served;
}

interface ClientOptions {
  /** The client certificate, then any intermediates to send with it. */
  certs?: Issued[];
  headers?: Record<string, string | string[]>;
}

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** GET over TLS presenting a client certificate; header values given as arrays go as one line each. */
function get(url: string, ca: string, options: ClientOptions = {}): Promise<Reply> {
  const [leaf] = options.certs ?? [];
  const tlsOptions = leaf ? { cert: options.certs!.map((c) => c.cert).join('\n'), key: leaf.key } : {};
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, headers: options.headers, ...tlsOptions }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, body: text.startsWith('{') ? JSON.parse(text) : text });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function clusterServer(t: ExecutionContext, reviewToken?: (token: string) => Promise<User | undefined>) {
  const config = parseAuthenticationConfig(await configMapData());
  return serveCluster(t, () => config, reviewToken);
}

const proxyHeaders = {
  'X-Remote-User': 'alice@example.com',
  'X-Remote-Uid': 'u-123',
  'X-Remote-Group': ['developers', 'on call, weekends', 'system:masters'],
  'X-Remote-Extra-Scopes': ['read', 'write'],
  'X-Remote-Extra-Example.org%2fteam': 'platform',
};

test('a front proxy names the user in its headers: every group line, extras with decoded keys', async (t) => {
  const { proxy } = await pki;
  const { tls, base } = await clusterServer(t);
  const res = await get(`${base}/whoami`, tls.ca, { certs: [proxy], headers: proxyHeaders });
  t.is(res.status, 200);
  t.deepEqual(res.body, {
    name: 'alice@example.com',
    uid: 'u-123',
    groups: ['developers', 'on call, weekends', 'system:masters', 'system:authenticated'],
    extra: { scopes: ['read', 'write'], 'example.org/team': ['platform'] },
  });
});

test('a front proxy certificate signed through an intermediate it sends is trusted', async (t) => {
  const { proxyThroughIntermediate, intermediate } = await pki;
  const { tls, base } = await clusterServer(t);
  const res = await get(`${base}/whoami`, tls.ca, { certs: [proxyThroughIntermediate, intermediate], headers: { 'X-Remote-User': 'bob' } });
  t.is(res.status, 200);
  t.deepEqual(res.body, { name: 'bob', groups: ['system:authenticated'] });
  const without = await get(`${base}/whoami`, tls.ca, { certs: [proxyThroughIntermediate], headers: { 'X-Remote-User': 'bob' } });
  t.is(without.status, 401, 'without the intermediate the chain does not reach the CA');
});

const untrustedProxies: [string, keyof Pki][] = [
  ['a certificate from another CA with the same name', 'proxyFromOtherCA'],
  ['a common name not in requestheader-allowed-names', 'proxyNotAllowed'],
  ['an expired certificate', 'proxyExpired'],
  ['a certificate without ExtKeyUsage ClientAuth', 'proxyForServers'],
];

for (const [title, which] of untrustedProxies) {
  test(`X-Remote-User is not believed from ${title}: 401`, async (t) => {
    const cert = (await pki)[which];
    const { tls, base } = await clusterServer(t);
    const res = await get(`${base}/whoami`, tls.ca, { certs: [cert], headers: proxyHeaders });
    t.is(res.status, 401);
    t.like(res.body, { kind: 'Status', status: 'Failure', reason: 'Unauthorized', message: 'Unauthorized', code: 401 });
  });
}

test('a trusted front proxy that names no user is 401', async (t) => {
  const { proxy } = await pki;
  const { tls, base } = await clusterServer(t);
  const res = await get(`${base}/whoami`, tls.ca, { certs: [proxy], headers: { 'X-Remote-User': '', 'X-Remote-Group': 'developers' } });
  t.is(res.status, 401);
});

test('a client certificate from the client CA is its CN with its O values as groups; X-Remote headers change nothing', async (t) => {
  const { jane } = await pki;
  const { tls, base } = await clusterServer(t);
  const res = await get(`${base}/whoami`, tls.ca, {
    certs: [jane],
    headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' },
  });
  t.is(res.status, 200);
  t.like(res.body, { name: 'jane', groups: ['dev', 'ops', 'system:authenticated'] });
});

test('a client that renegotiates its TLS connection (to present another certificate on it) is refused: a connection keeps the identity of its handshake', async (t) => {
  const { jane } = await pki;
  const { tls: served, base } = await clusterServer(t);
  const { hostname, port } = new URL(base);
  const socket = connect({ host: hostname, port: Number(port), ca: served.ca, cert: jane.cert, key: jane.key, maxVersion: 'TLSv1.2' });
  t.teardown(() => socket.destroy());
  await once(socket, 'secureConnect');
  const refused = new Promise<Error | null>((resolve) => {
    socket.once('error', resolve);
    if (!socket.renegotiate({ rejectUnauthorized: true }, resolve)) resolve(new Error('not started'));
  });
  // The handshake goes on as data flows: a request on the connection carries it.
  socket.write('GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n');
  socket.resume();
  t.truthy(await refused, 'the server refused to renegotiate');
});

test('no credentials, or a client certificate from an unknown CA, is 401; health paths need none', async (t) => {
  const { janeFromOtherCA } = await pki;
  const { tls, base } = await clusterServer(t);
  t.is((await get(`${base}/whoami`, tls.ca)).status, 401);
  t.is((await get(`${base}/whoami`, tls.ca, { certs: [janeFromOtherCA] })).status, 401);
  for (const path of ['/healthz', '/livez', '/readyz']) t.is((await get(`${base}${path}`, tls.ca)).status, 200, path);
});

test('a bearer token is reviewed only when no certificate names a user, and a failed review is 401', async (t) => {
  const { janeFromOtherCA, jane } = await pki;
  const asked: string[] = [];
  const review = async (given: string) => {
    asked.push(given);
    if (given === 'broken') throw new Error('kube-apiserver unreachable');
    return given === 'valid' ? { name: 'system:serviceaccount:apps:web', uid: 'sa-1', groups: ['system:serviceaccounts'] } : undefined;
  };
  const { tls, base } = await clusterServer(t, review);
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` });
  const viaToken = await get(`${base}/whoami`, tls.ca, { certs: [janeFromOtherCA], headers: bearer('valid') });
  t.deepEqual(viaToken.body, {
    name: 'system:serviceaccount:apps:web',
    uid: 'sa-1',
    groups: ['system:serviceaccounts', 'system:authenticated'],
  });
  t.like((await get(`${base}/whoami`, tls.ca, { certs: [jane], headers: bearer('never-asked') })).body, { name: 'jane' });
  t.is((await get(`${base}/whoami`, tls.ca, { headers: bearer('unknown') })).status, 401);
  t.is((await get(`${base}/whoami`, tls.ca, { headers: bearer('broken') })).status, 401);
  t.deepEqual(asked, ['valid', 'unknown', 'broken']);
});

test('the trust in force is read on every request: a new config applies at once', async (t) => {
  const { proxy } = await pki;
  const data = await configMapData();
  let config = parseAuthenticationConfig(data);
  const { tls, base } = await serveCluster(t, () => config);
  const asAlice = { certs: [proxy], headers: { 'X-Remote-User': 'alice' } };
  t.is((await get(`${base}/whoami`, tls.ca, asAlice)).status, 200);
  config = parseAuthenticationConfig({ ...data, 'requestheader-allowed-names': '["aggregator"]' });
  t.is((await get(`${base}/whoami`, tls.ca, asAlice)).status, 401);
  config = parseAuthenticationConfig({ ...data, 'requestheader-allowed-names': '' });
  t.is((await get(`${base}/whoami`, tls.ca, asAlice)).status, 200, 'no allowed names: any certificate the CA signed');
});

// --- the pure parts --------------------------------------------------------------------------------------------

const frontProxy = {
  ca: [],
  usernameHeaders: ['X-Remote-User', 'X-Forwarded-User'],
  uidHeaders: ['X-Remote-Uid'],
  groupHeaders: ['X-Remote-Group', 'X-Other-Group'],
  extraHeaderPrefixes: ['X-Remote-Extra-', 'X-Other-Extra-'],
  allowedNames: [],
};

const headerCases: { name: string; headers: Record<string, string[]>; user: User | undefined }[] = [
  { name: 'no username header: no user', headers: { 'x-remote-group': ['g'] }, user: undefined },
  {
    name: 'an empty first username header falls to the next',
    headers: { 'x-remote-user': ['', 'late'], 'x-forwarded-user': ['bob'] },
    user: { name: 'bob', groups: [] },
  },
  {
    name: 'only the first line of a username header counts',
    headers: { 'x-remote-user': ['alice', 'mallory'] },
    user: { name: 'alice', groups: [] },
  },
  {
    name: 'groups from every line of every group header, empty lines dropped, commas kept',
    headers: { 'x-remote-user': ['a'], 'x-remote-group': ['x, y', '', 'z'], 'x-other-group': ['w'] },
    user: { name: 'a', groups: ['x, y', 'z', 'w'] },
  },
  {
    name: 'extras from every prefix, keys lower-cased and percent-decoded, malformed keys kept',
    headers: {
      'x-remote-user': ['a'],
      'x-remote-extra-scopes': ['r', 'w'],
      'x-other-extra-acme.com%2fteam': ['t'],
      'x-remote-extra-bad%zz': ['v'],
    },
    user: { name: 'a', groups: [], extra: { scopes: ['r', 'w'], 'acme.com/team': ['t'], 'bad%zz': ['v'] } },
  },
  {
    name: 'an extra named __proto__ is an ordinary key',
    headers: { 'x-remote-user': ['a'], 'x-remote-extra-__proto__': ['p'] },
    user: { name: 'a', groups: [], extra: { ['__proto__']: ['p'] } },
  },
  { name: 'the uid header', headers: { 'x-remote-user': ['a'], 'x-remote-uid': ['42'] }, user: { name: 'a', uid: '42', groups: [] } },
];

for (const c of headerCases) {
  test(`front-proxy headers: ${c.name}`, (t) => {
    t.deepEqual(requestHeaderUser(c.headers, frontProxy), c.user);
  });
}

test('chain verification: validity of every link, intermediates must be CAs, the trusted CA itself is trusted', async (t) => {
  const root = await certificateAuthority('root');
  const leaf = await clientCertificate('CN=leaf', root);
  // Allowed to sign by its KeyUsage, but not a CA by its BasicConstraints.
  const notCA = await clientCertificate('CN=not-a-ca', root, { keyUsages: KeyUsageFlags.keyCertSign });
  const underNotCA = await clientCertificate('CN=under', notCA);
  const expiredRoot = await certificateAuthority('old-root', {
    notAfter: new Date(Date.now() - hour),
    notBefore: new Date(Date.now() - 2 * hour),
  });
  const underExpiredRoot = await clientCertificate('CN=late', expiredRoot);
  const future = await clientCertificate('CN=future', root, { notBefore: new Date(Date.now() + hour) });
  t.true(verifyClientCertificate([leaf.x509], [root.x509]));
  t.false(verifyClientCertificate([leaf.x509], []));
  t.false(verifyClientCertificate([], [root.x509]));
  t.false(verifyClientCertificate([underNotCA.x509, notCA.x509], [root.x509]), 'an intermediate that is not a CA signs nothing');
  t.false(verifyClientCertificate([underExpiredRoot.x509], [expiredRoot.x509]));
  t.false(verifyClientCertificate([future.x509], [root.x509]));
  t.true(verifyClientCertificate([future.x509], [root.x509], new Date(Date.now() + 2 * hour)));
  t.true(verifyClientCertificate([root.x509], [root.x509]));
});

test("a connection's chain is judged once per set of roots, and again once a certificate's validity ends: an expired one is refused on a connection still open", async (t) => {
  const root = await certificateAuthority('root');
  const other = await certificateAuthority('other');
  const now = Date.now();
  const leaf = await clientCertificate('CN=leaf', root, { notAfter: new Date(now + hour) });
  const chain = [leaf.x509];
  const roots = [root.x509];
  t.true(verifiedOnce(chain, roots, now));
  t.true(verifiedOnce(chain, roots, now + hour / 2), 'within every validity: the verdict kept');
  t.false(verifiedOnce(chain, roots, now + 2 * hour), 'past the leaf: judged anew, refused');
  t.false(verifiedOnce(chain, [other.x509], now), 'other roots (a new config): judged against them');
  t.true(verifiedOnce(chain, roots, now), 'the first verdict still holds for its roots');
  const refused = [(await clientCertificate('CN=stranger', other)).x509];
  t.false(verifiedOnce(refused, roots, now));
  t.false(verifiedOnce(refused, roots, now), 'a refusal is kept too');
});

test('chain verification gives up on a crowd of look-alike intermediates instead of trying every path', async (t) => {
  const root = await certificateAuthority('root');
  const lookalike = await certificateAuthority('lookalike');
  // Forty self-issued CAs with one name and one key: each could have signed each other one.
  const crowd = await Promise.all(Array.from({ length: 40 }, () => certificateAuthority('lookalike', { keys: lookalike.keys })));
  const leaf = await clientCertificate('CN=leaf', lookalike);
  const started = Date.now();
  t.false(verifyClientCertificate([leaf.x509, ...crowd.map((c) => c.x509)], [root.x509]));
  t.true(Date.now() - started < 2000);
});

test('a client certificate without a CN names no user; its SHA-256 is its credential id', async (t) => {
  const ca = await certificateAuthority('ca');
  const noName = await issue('O=dev', { issuer: ca, usages: ['1.3.6.1.5.5.7.3.2'] });
  t.is(certificateUser(noName.x509), undefined);
  const jane = await clientCertificate('CN=jane, O=dev', ca);
  const fingerprint = new X509Certificate(jane.cert).fingerprint256.replaceAll(':', '').toLowerCase();
  t.deepEqual(certificateUser(jane.x509), {
    name: 'jane',
    groups: ['dev'],
    extra: { 'authentication.kubernetes.io/credential-id': [`X509SHA256=${fingerprint}`] },
  });
});

test('the ConfigMap: lists are JSON arrays, missing means none, no front-proxy CA means no front proxy', async (t) => {
  const data = await configMapData();
  const { clientCA, frontProxyCA } = await pki;
  const config = parseAuthenticationConfig({
    ...data,
    'requestheader-uid-headers': '',
    'client-ca-file': clientCA.cert + frontProxyCA.cert,
  });
  t.is(config.clientCA.length, 2);
  t.deepEqual(config.requestHeader?.usernameHeaders, ['X-Remote-User']);
  t.deepEqual(config.requestHeader?.uidHeaders, []);
  t.deepEqual(config.requestHeader?.allowedNames, ['front-proxy-client']);
  t.true(Object.isFrozen(config) && Object.isFrozen(config.requestHeader) && Object.isFrozen(config.requestHeader?.groupHeaders));
  t.deepEqual(parseAuthenticationConfig({ 'client-ca-file': clientCA.cert }).requestHeader, undefined);
  t.deepEqual(parseAuthenticationConfig(undefined), { clientCA: [] });
  t.throws(() => parseAuthenticationConfig({ ...data, 'requestheader-group-headers': 'X-Remote-Group' }), {
    message: /requestheader-group-headers is not JSON/,
  });
  t.throws(() => parseAuthenticationConfig({ ...data, 'requestheader-group-headers': '{"a":1}' }), {
    message: /not a JSON array of strings/,
  });
  t.throws(() => parseAuthenticationConfig({ ...data, 'client-ca-file': 'not a certificate' }), {
    message: /client-ca-file holds no PEM certificate/,
  });
  const corrupt = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  t.throws(() => parseAuthenticationConfig({ ...data, 'requestheader-client-ca-file': corrupt }), {
    message: 'requestheader-client-ca-file: certificate 1 does not parse',
  });
});

test('Authorization header forms: only Bearer with a token', (t) => {
  t.is(bearerToken('Bearer abc'), 'abc');
  t.is(bearerToken('bearer abc'), 'abc');
  t.is(bearerToken('Bearer'), undefined);
  t.is(bearerToken('Bearer '), undefined);
  t.is(bearerToken('Basic abc'), undefined);
  t.is(bearerToken(undefined), undefined);
});

test('system:authenticated is added once, and not to system:anonymous', (t) => {
  t.deepEqual(withAuthenticatedGroup({ name: 'a', groups: ['g'] }).groups, ['g', 'system:authenticated']);
  t.deepEqual(withAuthenticatedGroup({ name: 'a', groups: ['system:authenticated'] }).groups, ['system:authenticated']);
  t.deepEqual(withAuthenticatedGroup({ name: 'system:anonymous', groups: ['system:unauthenticated'] }).groups, ['system:unauthenticated']);
});

test('TokenReview answers are kept 10 s, authenticated or not; a failed review is asked again', async (t) => {
  let time = 0;
  const calls: string[] = [];
  const review = cachedTokenReview(
    async (given) => {
      calls.push(given);
      if (given === 'flaky' && calls.filter((c) => c === 'flaky').length === 1) throw new Error('timeout');
      return given === 'good' ? { name: 'u', groups: [] } : undefined;
    },
    () => time,
  );
  t.deepEqual(await review('good'), { name: 'u', groups: [] });
  t.is(await review('bad'), undefined);
  await Promise.all([review('good'), review('bad')]);
  t.deepEqual(calls, ['good', 'bad']);
  time = 9_999;
  await review('good');
  t.deepEqual(calls, ['good', 'bad']);
  time = 10_000;
  await review('good');
  t.deepEqual(calls, ['good', 'bad', 'good']);
  await t.throwsAsync(review('flaky'));
  t.is(await review('flaky'), undefined);
  t.deepEqual(calls.slice(3), ['flaky', 'flaky']);
});
