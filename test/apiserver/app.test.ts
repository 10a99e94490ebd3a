// The HTTP core over real TLS: the generated certificate chains to its CA for every name it was made for,
// health answers, and unknown paths and failures come back as metav1.Status.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Router from '@koa/router';
import test from 'ava';
import { StatusError } from '../../openapi/status.ts';
import { createServingCertificate, servingCertificateIn } from '../../apiserver/tls.ts';
import { certificateNames as names, httpsRequest, serveApp } from '../support/http.ts';
import { closeServer, createApp, listen } from '../../apiserver/app.ts';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';

async function serve(routers: Router[] = [], ready?: () => Promise<boolean>) {
  return serveApp({ routers, ...(ready ? { ready } : {}) });
}

test('health paths answer ok over TLS trusted through the generated CA, for every name of the certificate', async (t) => {
  const { tls, base, close } = await serve();
  for (const path of ['/healthz', '/livez', '/readyz']) {
    const res = await httpsRequest(`${base}${path}`, tls.ca);
    t.is(res.status, 200);
    t.is(res.text, 'ok');
  }
  for (const servername of ['localhost', 'postgres-apiserver.postgres-apiserver.svc']) {
    t.is((await httpsRequest(`${base}/healthz`, tls.ca, { servername })).status, 200, servername);
  }
  await t.throwsAsync(httpsRequest(`${base}/healthz`, tls.ca, { servername: 'other.example' }), { message: /altnames/ });
  await close();
});

test('a CA of another server is not trusted', async (t) => {
  const { base, close } = await serve();
  const other = await createServingCertificate(names);
  await t.throwsAsync(httpsRequest(`${base}/healthz`, other.ca), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  await close();
});

test('an unknown path is a NotFound Status', async (t) => {
  const { tls, base, close } = await serve();
  const res = await httpsRequest(`${base}/apis/nothing/here`, tls.ca);
  t.is(res.status, 404);
  t.deepEqual(res.json(), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'the server could not find the requested resource',
    reason: 'NotFound',
    code: 404,
  });
  await close();
});

test('a StatusError keeps its message; an unexpected error is a 500 that reveals nothing', async (t) => {
  const router = new Router();
  router.get('/conflict', () => {
    throw new StatusError('Conflict', 'in the way');
  });
  router.get('/crash', () => {
    throw new Error('password=hunter2 leaked');
  });
  const { tls, base, close } = await serve([router]);
  t.like((await httpsRequest(`${base}/conflict`, tls.ca)).json(), { reason: 'Conflict', code: 409, message: 'in the way' });
  const crash = await httpsRequest(`${base}/crash`, tls.ca);
  t.is(crash.status, 500);
  t.like(crash.json(), { reason: 'InternalError' });
  t.false(crash.text.includes('hunter2'));
  await close();
});

test('/readyz is 503 while the store does not answer', async (t) => {
  const { tls, base, close } = await serve([], async () => false);
  const res = await httpsRequest(`${base}/readyz`, tls.ca);
  t.is(res.status, 503);
  t.like(res.json(), { reason: 'ServiceUnavailable' });
  await close();
});

test('the certificate kept in a folder is reused on the next start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  const first = await servingCertificateIn(dir, names);
  const second = await servingCertificateIn(dir, names);
  t.true(first.created);
  t.false(second.created);
  t.is(second.ca, first.ca);
  rmSync(dir, { recursive: true });
});

test('a request past its deadline answers 504 Timeout as kube-apiserver does; a shorter ?timeout= wins; a watch has none', async (t) => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const router = new Router();
  router.get('/slow', async (ctx) => {
    await held;
    ctx.body = 'late';
  });
  const { tls, base, close } = await serveApp({ routers: [router], requestDeadlineMs: 300 });
  t.teardown(close);
  const timedOut = await httpsRequest(`${base}/slow`, tls.ca);
  t.is(timedOut.status, 504);
  t.like(timedOut.json(), { kind: 'Status', reason: 'Timeout', code: 504 });
  t.regex(timedOut.json().message, /did not complete within the allowed duration \(0.3s\)/);
  const shorter = await httpsRequest(`${base}/slow?timeout=100ms`, tls.ca);
  t.regex(shorter.json().message, /\(0.1s\)/);
  const watch = httpsRequest(`${base}/slow?watch=true`, tls.ca);
  // The watch is still open well past the deadline: it answers once the handler is let go.
  const first = await Promise.race([watch.then(() => 'answered'), httpsRequest(`${base}/slow`, tls.ca).then(() => 'deadline')]);
  t.is(first, 'deadline');
  release();
  t.is((await watch).text, 'late');
});

test('a server that stops gives requests in flight a grace, then answers them 503 so the client retries elsewhere, and closes', async (t) => {
  let reached: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const router = new Router();
  router.get('/held', async (ctx) => {
    reached();
    await new Promise(() => undefined); // work that never ends by itself
    ctx.body = 'never';
  });
  const tls = await createServingCertificate(names);
  const app = createApp({ log: pino({ level: 'silent' }), routers: [router] });
  const server = await listen(app, tls, 0);
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const inFlight = httpsRequest(`${base}/held`, tls.ca);
  await arrived;
  const closed = closeServer(server, app, 200);
  const answer = await inFlight;
  t.is(answer.status, 503);
  t.like(answer.json(), { kind: 'Status', reason: 'ServiceUnavailable', message: 'the server is stopping; retry' });
  t.is(answer.headers['retry-after'], '1');
  await closed;
});
