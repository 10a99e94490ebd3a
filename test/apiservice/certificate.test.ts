// `npm run certificate`: a serving certificate for the Service's names that chains to the CA written beside
// it, the private keys readable by the owner only, manifests that carry them, and a CA kept across runs.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parseDocuments } from '../support/manifests.ts';

const command = new URL('../../apiservice/certificate.ts', import.meta.url).pathname;
const dirs: string[] = [];
test.after.always(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Runs the command into a new temp dir (or `dir`); resolves with the dir and what it printed. */
async function certificate(args: string[], dir = mkdtempSync(join(tmpdir(), 'certificate-'))): Promise<{ dir: string; stdout: string }> {
  if (!dirs.includes(dir)) dirs.push(dir);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', command, '--out', dir, ...args]);
  return { dir, stdout };
}
const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');
const single = (dir: string, file: string) => {
  const objects = parseDocuments(read(dir, file));
  if (objects.length !== 1) throw new Error(`${file} holds ${objects.length} objects`);
  return objects[0]!;
};

test('the serving certificate chains to ca.crt and names the Service in every form, plus the extra SANs', async (t) => {
  const { dir, stdout } = await certificate([
    '--namespace',
    'pg',
    '--service',
    'api',
    '--extra-san',
    'localhost',
    '--extra-san',
    '127.0.0.1',
  ]);
  const ca = new X509Certificate(read(dir, 'ca.crt'));
  const cert = new X509Certificate(read(dir, 'tls.crt'));
  t.true(ca.ca);
  t.true(cert.checkIssued(ca));
  t.true(cert.verify(ca.publicKey));
  t.false(cert.ca);
  t.is(cert.subjectAltName, 'DNS:api, DNS:api.pg, DNS:api.pg.svc, DNS:api.pg.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1');
  t.is(cert.checkHost('api.pg.svc'), 'api.pg.svc', 'the name kube-apiserver dials');
  t.regex(stdout, /kubectl apply -f apiservice\/manifests\//);
  t.regex(stdout, /helm upgrade --install postgres-apiserver apiservice\/chart --namespace pg .*--set-file caBundle=.*ca\.crt/);
});

test('private keys and the Secret holding one are readable by their owner only', async (t) => {
  const { dir } = await certificate([]);
  for (const file of ['tls.key', 'ca.key', 'serving-cert-secret.yaml']) t.is(statSync(join(dir, file)).mode & 0o777, 0o600, file);
  for (const file of ['ca.crt', 'tls.crt', 'apiservice.yaml']) t.is(statSync(join(dir, file)).mode & 0o777, 0o644, file);
});

test('serving-cert-secret.yaml is the kubernetes.io/tls Secret the Deployment mounts; apiservice.yaml trusts ca.crt', async (t) => {
  const { dir } = await certificate([]);
  const base64 = (file: string) => Buffer.from(read(dir, file)).toString('base64');
  t.deepEqual(single(dir, 'serving-cert-secret.yaml'), {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: 'postgres-apiserver-serving-cert',
      namespace: 'postgres-apiserver',
      labels: { 'app.kubernetes.io/name': 'postgres-apiserver' },
    },
    data: { 'tls.crt': base64('tls.crt'), 'tls.key': base64('tls.key'), 'ca.crt': base64('ca.crt') },
  });
  const apiService = single(dir, 'apiservice.yaml');
  t.is(apiService.kind, 'APIService');
  t.is(apiService.metadata.name, 'v1alpha1.postgres.databases.dinhloc.dev');
  t.deepEqual(apiService.spec.service, { name: 'postgres-apiserver', namespace: 'postgres-apiserver', port: 443 });
  t.is(Buffer.from(apiService.spec.caBundle, 'base64').toString(), read(dir, 'ca.crt'));
});

test('a second run keeps the CA and signs a new certificate with it; --renew makes a new CA', async (t) => {
  const { dir } = await certificate([]);
  const [ca, cert] = [read(dir, 'ca.crt'), read(dir, 'tls.crt')];
  const again = await certificate(['--extra-san', 'api.example'], dir);
  t.regex(again.stdout, /^Kept the CA/);
  t.is(read(dir, 'ca.crt'), ca);
  t.not(read(dir, 'tls.crt'), cert);
  t.true(new X509Certificate(read(dir, 'tls.crt')).checkIssued(new X509Certificate(ca)));
  t.regex(new X509Certificate(read(dir, 'tls.crt')).subjectAltName ?? '', /DNS:api\.example/);

  const renewed = await certificate(['--renew'], dir);
  t.regex(renewed.stdout, /^Made a new CA/);
  t.not(read(dir, 'ca.crt'), ca);
  t.true(new X509Certificate(read(dir, 'tls.crt')).checkIssued(new X509Certificate(read(dir, 'ca.crt'))));
});

test('without --out it prints its usage and fails', async (t) => {
  const error = await t.throwsAsync(promisify(execFile)(process.execPath, ['--import', 'tsx', command]));
  t.like(error, { code: 2 });
  t.regex((error as Error & { stderr: string }).stderr, /Usage: npm run certificate -- --out DIR/);
});
