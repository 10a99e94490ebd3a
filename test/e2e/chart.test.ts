// The Helm chart (apiservice/chart) against the plain manifests: with its defaults `helm template` renders the
// very same objects, and its values change what they say. Needs helm from test/e2e/build-control-plane.sh.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { byIdentity, manifestFiles, parseDocuments, type Manifest } from '../support/manifests.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const helmBinary = join(root, '.cache/control-plane/bin/helm');
const chart = join(root, 'apiservice/chart');
const temp = mkdtempSync(join(tmpdir(), 'chart-test-'));
test.after.always(() => rmSync(temp, { recursive: true, force: true }));

/** Runs helm with its config, cache and data kept in a temp dir; resolves with its stdout. */
async function helm(args: string[]): Promise<string> {
  if (!existsSync(helmBinary))
    throw new Error(`${helmBinary} is missing: build it with test/e2e/build-control-plane.sh (or test/e2e/build-helm.sh)`);
  const env = {
    ...process.env,
    HELM_CONFIG_HOME: join(temp, 'config'),
    HELM_CACHE_HOME: join(temp, 'cache'),
    HELM_DATA_HOME: join(temp, 'data'),
  };
  return (await promisify(execFile)(helmBinary, args, { env })).stdout;
}

/** `helm template` of the chart as release postgres-apiserver in `namespace`, with `args` added. */
async function render(args: string[] = [], namespace = 'postgres-apiserver'): Promise<Map<string, Manifest>> {
  return byIdentity(parseDocuments(await helm(['template', 'postgres-apiserver', chart, '--namespace', namespace, ...args])));
}

const manifests = byIdentity(manifestFiles().flatMap((f) => f.objects));
const apiServiceKey = 'APIService /v1alpha1.postgres.databases.dinhloc.dev';
const serviceKey = 'Service postgres-apiserver/postgres-apiserver';
const deploymentKey = 'Deployment postgres-apiserver/postgres-apiserver';
/** The objects but those of `keys`, in a stable order. */
const without = (objects: Map<string, Manifest>, ...keys: string[]) =>
  [...objects].filter(([key]) => !keys.includes(key)).sort(([a], [b]) => a.localeCompare(b));

test('helm lint passes', async (t) => {
  t.regex(await helm(['lint', '--strict', chart]), /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('with its defaults the chart renders exactly the objects of apiservice/manifests/', async (t) => {
  const rendered = await render();
  t.deepEqual([...rendered.keys()].sort(), [...manifests.keys()].sort());
  for (const [key, object] of manifests) t.deepEqual(rendered.get(key), object, key);
});

test('service.externalName points the aggregator at a server outside the cluster, on the port given, trusting the CA file', async (t) => {
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  writeFileSync(join(temp, 'ca.crt'), ca);
  const rendered = await render([
    '--set',
    'service.externalName=localhost',
    '--set',
    'apiService.port=18443',
    '--set-file',
    `caBundle=${join(temp, 'ca.crt')}`,
  ]);
  t.deepEqual(rendered.get(serviceKey)?.spec, { type: 'ExternalName', externalName: 'localhost' });
  t.false(rendered.has(deploymentKey), 'the server runs outside the cluster: no Deployment');
  const apiService = rendered.get(apiServiceKey)!;
  t.deepEqual(apiService.spec.service, { name: 'postgres-apiserver', namespace: 'postgres-apiserver', port: 18443 });
  t.is(Buffer.from(apiService.spec.caBundle, 'base64').toString(), ca);
  t.deepEqual(without(rendered, serviceKey, apiServiceKey), without(manifests, serviceKey, apiServiceKey, deploymentKey));
});

test('a caBundle given already base64-encoded is used as it is', async (t) => {
  const rendered = await render(['--set', 'caBundle=TUlJQg==']);
  t.is(rendered.get(apiServiceKey)?.spec.caBundle, 'TUlJQg==');
});

test('certManager.enabled: cert-manager issues the serving Secret from its own CA and injects that CA into the APIService', async (t) => {
  const rendered = await render(['--set', 'certManager.enabled=true']);
  const serving = rendered.get('Certificate postgres-apiserver/postgres-apiserver-serving-cert')!;
  t.like(serving.spec, { secretName: 'postgres-apiserver-serving-cert', issuerRef: { kind: 'Issuer', name: 'postgres-apiserver-ca' } });
  t.true(serving.spec.dnsNames.includes('postgres-apiserver.postgres-apiserver.svc'));
  const servingVolume = rendered.get(deploymentKey)!.spec.template.spec.volumes.find((v: Manifest) => v.name === 'serving-cert');
  t.is(servingVolume.secret.secretName, serving.spec.secretName);
  t.like(rendered.get('Certificate postgres-apiserver/postgres-apiserver-ca')?.spec, {
    isCA: true,
    secretName: 'postgres-apiserver-ca',
    issuerRef: { kind: 'Issuer', name: 'postgres-apiserver-selfsigned' },
  });
  t.like(rendered.get('Issuer postgres-apiserver/postgres-apiserver-ca')?.spec, { ca: { secretName: 'postgres-apiserver-ca' } });
  t.deepEqual(rendered.get('Issuer postgres-apiserver/postgres-apiserver-selfsigned')?.spec, { selfSigned: {} });

  const apiService = rendered.get(apiServiceKey)!;
  t.is(apiService.metadata.annotations['cert-manager.io/inject-ca-from'], 'postgres-apiserver/postgres-apiserver-serving-cert');
  t.false('caBundle' in apiService.spec);
});

test('another namespace, an image tag and no Namespace object (helm install --create-namespace) change only what they should', async (t) => {
  const rendered = await render(['--set', 'createNamespace=false', '--set', 'image.tag=1.2.3', '--set', 'replicas=3'], 'databases');
  t.false([...rendered.values()].some((o) => o.kind === 'Namespace'));
  t.deepEqual(
    [...rendered.values()]
      .filter((o) => o.metadata.namespace)
      .map((o) => `${o.kind} ${o.metadata.namespace}`)
      .sort(),
    [
      'Deployment databases',
      'Role databases',
      'RoleBinding databases',
      'RoleBinding kube-system',
      'Service databases',
      'ServiceAccount databases',
    ],
  );
  for (const o of rendered.values()) for (const subject of o.subjects ?? []) t.is(subject.namespace, 'databases', o.metadata.name);
  t.is(rendered.get(apiServiceKey)?.spec.service.namespace, 'databases');
  const deployment = rendered.get('Deployment databases/postgres-apiserver')!;
  t.is(deployment.spec.replicas, 3);
  t.is(deployment.spec.template.spec.containers[0].image, 'postgres-apiserver:1.2.3');
});
