// Local mode's bearer token: the right token gets in as the local user, anything else is 401; health needs none.
import Router from '@koa/router';
import test from 'ava';
import { bearerTokenAuthentication } from '../../apiserver/authentication.ts';
import { httpsRequest, serveApp } from '../support/http.ts';

const token = 'a-long-random-token';

async function serve() {
  const router = new Router();
  router.get('/whoami', (ctx) => {
    ctx.body = ctx.state.user;
  });
  return serveApp({ routers: [router], authenticate: bearerTokenAuthentication(token, { name: 'admin', groups: ['system:masters'] }) });
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
    const { tls, base, close } = await serve();
    const res = await httpsRequest(`${base}/whoami`, tls.ca, { headers });
    t.is(res.status, 401);
    t.like(res.json(), { kind: 'Status', reason: 'Unauthorized', code: 401 });
    await close();
  });
}

test('the right token gets in as the local user; health paths need no token', async (t) => {
  const { tls, base, close } = await serve();
  const res = await httpsRequest(`${base}/whoami`, tls.ca, { headers: { authorization: `Bearer ${token}` } });
  t.is(res.status, 200);
  t.deepEqual(res.json(), { name: 'admin', groups: ['system:masters'] });
  t.is((await httpsRequest(`${base}/livez`, tls.ca)).status, 200);
  await close();
});
