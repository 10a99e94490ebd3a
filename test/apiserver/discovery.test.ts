// Discovery as kubectl and the aggregator read it: aggregated v2 with ETag/304, the legacy documents, and
// `kubectl api-resources` listing the kinds with their short names and categories.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { bearerTokenAuthentication } from '../../apiserver/authentication.ts';
import { discoveryRouter, type DiscoveryGroup } from '../../apiserver/discovery.ts';
import { writeKubeconfig } from '../../apiserver/kubeconfig.ts';
import { httpsRequest, serveApp } from '../support/http.ts';

const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const groups: DiscoveryGroup[] = [
  { group: '', version: 'v1', resources: [{ plural: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, verbs }] },
  {
    group: 'postgres.databases.dinhloc.dev',
    version: 'v1alpha1',
    resources: [
      {
        plural: 'databaseroles',
        singular: 'databaserole',
        kind: 'DatabaseRole',
        namespaced: true,
        verbs,
        shortNames: ['pgrole'],
        categories: ['pgapi'],
        subresources: ['status'],
      },
      {
        plural: 'databaseclusters',
        singular: 'databasecluster',
        kind: 'DatabaseCluster',
        namespaced: false,
        verbs,
        shortNames: ['pgcluster'],
        categories: ['pgapi'],
        subresources: ['status'],
      },
    ],
  },
];

const v2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';

test('aggregated discovery v2 is served with its content type and an ETag, and 304 when unchanged', async (t) => {
  const { tls, base, close } = await serveApp({ routers: [discoveryRouter(groups)] });
  const res = await httpsRequest(`${base}/apis`, tls.ca, { headers: { accept: v2 } });
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
  t.regex(res.headers.etag!, /^"[0-9a-f]{128}"$/);
  const body = res.json();
  t.is(body.kind, 'APIGroupDiscoveryList');
  t.deepEqual(body.items[0].versions[0].resources[0], {
    resource: 'databaseroles',
    responseKind: { group: 'postgres.databases.dinhloc.dev', version: 'v1alpha1', kind: 'DatabaseRole' },
    scope: 'Namespaced',
    singularResource: 'databaserole',
    verbs,
    shortNames: ['pgrole'],
    categories: ['pgapi'],
    subresources: [
      {
        subresource: 'status',
        responseKind: { group: 'postgres.databases.dinhloc.dev', version: 'v1alpha1', kind: 'DatabaseRole' },
        verbs: ['get', 'patch', 'update'],
      },
    ],
  });
  const again = await httpsRequest(`${base}/apis`, tls.ca, { headers: { accept: v2, 'if-none-match': res.headers.etag! } });
  t.is(again.status, 304);
  t.is(again.text, '');
  await close();
});

test('legacy discovery lists the group, and each resource with its status subresource', async (t) => {
  const { tls, base, close } = await serveApp({ routers: [discoveryRouter(groups)] });
  t.like((await httpsRequest(`${base}/apis`, tls.ca)).json(), {
    kind: 'APIGroupList',
    groups: [{ name: 'postgres.databases.dinhloc.dev', preferredVersion: { groupVersion: 'postgres.databases.dinhloc.dev/v1alpha1' } }],
  });
  const list = (await httpsRequest(`${base}/apis/postgres.databases.dinhloc.dev/v1alpha1`, tls.ca)).json();
  t.deepEqual(
    list.resources.map((r: { name: string; namespaced: boolean }) => [r.name, r.namespaced]),
    [
      ['databaseroles', true],
      ['databaseroles/status', true],
      ['databaseclusters', false],
      ['databaseclusters/status', false],
    ],
  );
  t.is((await httpsRequest(`${base}/api/v1`, tls.ca)).json().resources[0].name, 'secrets');
  await close();
});

test('kubectl api-resources lists the kinds with short names, and the category pgapi', async (t) => {
  const { tls, base, close } = await serveApp({
    routers: [discoveryRouter(groups)],
    authenticate: bearerTokenAuthentication('t0ken', { name: 'admin', groups: [] }),
  });
  const dir = mkdtempSync(join(tmpdir(), 'discovery-'));
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfig, { server: base, ca: tls.ca, token: 't0ken' });
    const env = { ...process.env, KUBECACHEDIR: join(dir, 'cache') };
    const run = (args: string[]) => promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, ...args], { env });
    const { stdout } = await run(['api-resources', '--api-group=postgres.databases.dinhloc.dev', '--no-headers']);
    const rows = stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/));
    t.deepEqual(rows, [
      ['databaseclusters', 'pgcluster', 'postgres.databases.dinhloc.dev/v1alpha1', 'false', 'DatabaseCluster'],
      ['databaseroles', 'pgrole', 'postgres.databases.dinhloc.dev/v1alpha1', 'true', 'DatabaseRole'],
    ]);
    const { stdout: categories } = await run(['api-resources', '--categories=pgapi', '-o', 'name']);
    t.deepEqual(categories.trim().split('\n'), [
      'databaseclusters.postgres.databases.dinhloc.dev',
      'databaseroles.postgres.databases.dinhloc.dev',
    ]);
  } finally {
    rmSync(dir, { recursive: true });
    await close();
  }
});
