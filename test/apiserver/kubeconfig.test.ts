// The kubeconfig local mode writes lets the real kubectl in: it trusts the CA and sends the token.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Router from '@koa/router';
import test from 'ava';
import { bearerTokenAuthentication } from '../../apiserver/authentication.ts';
import { writeKubeconfig } from '../../apiserver/kubeconfig.ts';
import { serveApp } from '../support/http.ts';

const run = promisify(execFile);

test('kubectl reaches the server with the written kubeconfig, and is refused with a wrong token', async (t) => {
  const router = new Router();
  router.get('/whoami', (ctx) => {
    ctx.body = ctx.state.user;
  });
  const { tls, base, close } = await serveApp({
    routers: [router],
    authenticate: bearerTokenAuthentication('secret-token', { name: 'admin', groups: [] }),
  });
  const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
  try {
    const good = join(dir, 'good');
    const bad = join(dir, 'bad');
    writeKubeconfig(good, { server: base, ca: tls.ca, token: 'secret-token' });
    writeKubeconfig(bad, { server: base, ca: tls.ca, token: 'wrong-token' });
    const { stdout } = await run('kubectl', ['--kubeconfig', good, 'get', '--raw', '/whoami']);
    t.deepEqual(JSON.parse(stdout), { name: 'admin', groups: [] });
    const refused = await t.throwsAsync(run('kubectl', ['--kubeconfig', bad, 'get', '--raw', '/whoami']));
    t.regex((refused as { stderr?: string }).stderr ?? '', /Unauthorized/);
  } finally {
    rmSync(dir, { recursive: true });
    await close();
  }
});
