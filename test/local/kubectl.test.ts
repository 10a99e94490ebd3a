// Local mode driven by the real kubectl: the usage guide's manifests, get in its output formats, explain,
// apply twice, patch, label, delete, and the bad inputs kubectl users meet.
import test from 'ava';
import { guideManifests, startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { rawClient } from '../support/rawclient.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
});
test.after.always(async () => local?.stop());

test.serial('the guide applies, and applying it again leaves our objects unchanged', async (t) => {
  const again = await local.kubectl(['apply', '-f', '-'], guideManifests(local.postgresDsn));
  t.is(again.code, 0, again.stderr);
  for (const line of [
    'databasecluster.postgres.databases.dinhloc.dev/main-cluster unchanged',
    'database.postgres.databases.dinhloc.dev/my-app-db unchanged',
    'databaserole.postgres.databases.dinhloc.dev/app-user unchanged',
  ]) {
    t.true(again.stdout.includes(line), again.stdout);
  }
});

test.serial('kubectl diff of the guide just applied finds nothing to change, its Secrets sent with stringData included', async (t) => {
  const diff = await local.kubectl(['diff', '-f', '-'], guideManifests(local.postgresDsn));
  t.is(diff.code, 0, `${diff.stdout}${diff.stderr}`);
  t.is(diff.stdout, '');
});

test.serial('kubectl get pgapi -A lists the three kinds with their columns', async (t) => {
  const { stdout, code, stderr } = await local.kubectl(['get', 'pgapi', '-A']);
  t.is(code, 0, stderr);
  t.regex(stdout, /NAME\s+HOST\s+VERSION\s+READY\s+DATABASES\s+ROLES\s+AGE/);
  t.regex(stdout, /default\s+database\.postgres\.databases\.dinhloc\.dev\/my-app-db\s+my_app_db_production\s+main-cluster/);
  t.regex(stdout, /default\s+databaserole\.postgres\.databases\.dinhloc\.dev\/app-user\s+my_app_user\s+main-cluster/);
});

test.serial('kubectl get all lists the Services, as in a cluster (their category all)', async (t) => {
  const { stdout, code, stderr } = await local.kubectl(['get', 'all']);
  t.is(code, 0, stderr);
  t.regex(stdout, /^(service\/)?my-app-db-svc\s+ClusterIP\s/m);
});

test.serial('get -o json, -o yaml, -o jsonpath and -o wide', async (t) => {
  const json = JSON.parse((await local.kubectl(['get', 'pgrole', 'app-user', '-o', 'json'])).stdout);
  t.like(json, {
    kind: 'DatabaseRole',
    metadata: { name: 'app-user', namespace: 'default', generation: 1 },
    spec: { roleName: 'my_app_user', reclaimPolicy: 'Retain' },
  });
  t.regex((await local.kubectl(['get', 'pgdb', 'my-app-db', '-o', 'yaml'])).stdout, /name: my_app_db_production/);
  t.is(
    (await local.kubectl(['get', 'databaserole', 'app-user', '-o', 'jsonpath={.spec.permissions[0].schemas[0].privileges}'])).stdout,
    '["USAGE","CREATE"]',
  );
  t.regex((await local.kubectl(['get', 'databaseroles', '-o', 'wide'])).stdout, /DATABASES\s+GRANTS\s+LOGIN\s+VALID-UNTIL\s+MEMBER-OF/);
});

test.serial("kubectl explain walks the schema through the group's OpenAPI v3", async (t) => {
  const { stdout, code, stderr } = await local.kubectl(['explain', 'databaserole.spec.permissions.schemas.tables']);
  t.is(code, 0, stderr);
  t.regex(stdout, /KIND:\s+DatabaseRole/);
  t.regex(stdout, /privileges\s+<\[\]string> -required-/);
});

test.serial('patch --type merge and --type json change the object; a strategic patch gets the 415 hint', async (t) => {
  t.is((await local.kubectl(['patch', 'pgrole', 'app-user', '--type', 'merge', '-p', '{"spec":{"connectionLimit":5}}'])).code, 0);
  t.is(
    (
      await local.kubectl([
        'patch',
        'pgrole',
        'app-user',
        '--type',
        'json',
        '-p',
        '[{"op":"replace","path":"/spec/connectionLimit","value":6}]',
      ])
    ).code,
    0,
  );
  const json = JSON.parse((await local.kubectl(['get', 'pgrole', 'app-user', '-o', 'json'])).stdout);
  t.is(json.spec.connectionLimit, 6);
  t.is(json.metadata.generation, 3);
  const strategic = await local.kubectl(['patch', 'pgrole', 'app-user', '-p', '{"spec":{"connectionLimit":7}}']);
  t.not(strategic.code, 0);
  t.regex(strategic.stderr, /UnsupportedMediaType|the body of the request was in an unknown format - accepted media types include/);
});

test.serial('label and annotate work, and -l selects', async (t) => {
  t.is((await local.kubectl(['label', 'pgrole', 'app-user', 'team=payments'])).code, 0);
  t.is((await local.kubectl(['annotate', 'pgdb', 'my-app-db', 'owner=alice'])).code, 0);
  t.regex(
    (await local.kubectl(['get', 'pgrole', '-l', 'team=payments', '-o', 'name'])).stdout,
    /databaserole.postgres.databases.dinhloc.dev\/app-user/,
  );
  t.is((await local.kubectl(['get', 'pgrole', '-l', 'team=other', '-o', 'name'])).stdout, '');
});

const badInputs: [string, string[], string | undefined, RegExp][] = [
  [
    'an unknown field (kubectl validates strictly)',
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: typo, namespace: default}
spec: {name: typo_db, databaseClusterRef: {name: main-cluster}, shcema: public}
`,
    /unknown field "spec.shcema"/,
  ],
  [
    'a missing required field',
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: nameless, namespace: default}
spec: {databaseClusterRef: {name: main-cluster}}
`,
    /The DatabaseRole "nameless" is invalid:[\s\S]*spec.roleName: Required value/,
  ],
  [
    'an unknown privilege',
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: greedy, namespace: default}
spec: {roleName: greedy, databaseClusterRef: {name: main-cluster}, permissions: [{database: my_app_db_production, privileges: [CONNECT, OWN]}]}
`,
    /spec.permissions\[0\].privileges\[1\]: Unsupported value: "OWN"/,
  ],
  [
    'a change of an immutable field',
    ['patch', 'pgdb', 'my-app-db', '--type', 'merge', '-p', '{"spec":{"name":"renamed"}}'],
    undefined,
    /spec.name: Invalid value: "renamed": field is immutable/,
  ],
  [
    'a superuser role',
    ['apply', '-f', '-'],
    `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: root, namespace: default}
spec: {roleName: root, databaseClusterRef: {name: main-cluster}, superuser: true}
`,
    /spec.superuser: Forbidden: superuser roles are not managed|unknown field "spec.superuser"/,
  ],
];

for (const [title, args, input, message] of badInputs) {
  test.serial(`${title} is refused with a message naming the field, and nothing is stored`, async (t) => {
    const before = (await local.kubectl(['get', 'pgapi', '-A', '-o', 'json'])).stdout;
    t.regex(before, /"kind": "DatabaseRole"/, 'the listing to compare is there');
    const result = await local.kubectl(args, input);
    t.not(result.code, 0);
    t.regex(result.stderr, message);
    t.is(
      (await local.kubectl(['get', 'pgapi', '-A', '-o', 'json'])).stdout.replace(/"resourceVersion": "\d+"/, ''),
      before.replace(/"resourceVersion": "\d+"/, ''),
    );
  });
}

test.serial('a List as `kubectl get -o yaml` writes it applies again: kubectl checks its items by /openapi/v2 in protobuf', async (t) => {
  const exported = await local.kubectl(['get', 'databaseroles,databases', '-o', 'yaml']);
  t.is(exported.code, 0, exported.stderr);
  t.regex(exported.stdout, /^kind: List$/m);
  const applied = await local.kubectl(['apply', '-f', '-'], exported.stdout);
  t.is(applied.code, 0, applied.stderr);
  t.regex(applied.stdout, /databaserole\.postgres\.databases\.dinhloc\.dev\/app-user (configured|unchanged)/);
  t.regex(applied.stdout, /database\.postgres\.databases\.dinhloc\.dev\/my-app-db (configured|unchanged)/);
});

test.serial("a List's item with a field the schema lacks is refused by kubectl itself, naming the field", async (t) => {
  const item = {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name: 'listed', namespace: 'default' },
    spec: { roleName: 'listed', databaseClusterRef: { name: 'main-cluster' }, superpowers: true },
  };
  const refused = await local.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [item] }));
  t.not(refused.code, 0);
  t.regex(refused.stderr, /unknown field "superpowers" in dev\.dinhloc\.databases\.postgres\.v1alpha1\.DatabaseRole\.spec/);
  t.regex((await local.kubectl(['get', 'pgrole', 'listed'])).stderr, /NotFound/);
});

test.serial('/openapi/v2 answers JSON to the aggregator and protobuf to kubectl, each with its own ETag', async (t) => {
  const request = rawClient(local.kubeconfig);
  const get = (accept: string, etag?: string) =>
    request('/openapi/v2', 'GET', undefined, undefined, { Accept: accept, ...(etag ? { 'If-None-Match': etag } : {}) });
  const json = await get('application/json');
  t.is(json.status, 200);
  t.regex(String(json.headers['content-type']), /^application\/json/);
  t.is(json.json().swagger, '2.0');
  // client-go asks with "@v1.0", which Go's mime parser refuses in a Content-Type: kube-openapi answers ".v1.0".
  const protobuf = await get('application/com.github.proto-openapi.spec.v2@v1.0+protobuf');
  t.is(protobuf.status, 200);
  t.is(protobuf.headers['content-type'], 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
  t.true(protobuf.text.startsWith('\n\u00032.0'), 'field 1, swagger: "2.0"');
  t.not(protobuf.headers.etag, json.headers.etag);
  t.is((await get('application/com.github.proto-openapi.spec.v2@v1.0+protobuf', String(protobuf.headers.etag))).status, 304);
  t.is((await get('application/json', String(protobuf.headers.etag))).status, 200);
});

test.serial('kubectl version, auth can-i (--list too) and auth whoami get answers from local mode itself', async (t) => {
  const version = await local.kubectl(['version', '-o', 'json']);
  t.is(version.code, 0, version.stderr);
  t.like(JSON.parse(version.stdout).serverVersion, { major: '1', minor: '34', gitVersion: 'v1.34.0+postgres-apiserver' });
  const canList = await local.kubectl(['auth', 'can-i', 'list', 'databaseroles']);
  t.is(canList.stdout.trim(), 'yes', canList.stderr);
  const canDelete = await local.kubectl(['auth', 'can-i', 'delete', 'pgdb', '--all-namespaces']);
  t.is(canDelete.stdout.trim(), 'yes', canDelete.stderr);
  const rules = await local.kubectl(['auth', 'can-i', '--list']);
  t.is(rules.code, 0, rules.stderr);
  t.regex(rules.stdout, /^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m, 'every verb on every resource');
  t.regex(rules.stdout, /^\s+\[\*\]\s+\[\]\s+\[\*\]$/m, 'and on every other path');
  const whoami = await local.kubectl(['auth', 'whoami', '-o', 'json']);
  t.is(whoami.code, 0, whoami.stderr);
  t.like(JSON.parse(whoami.stdout), {
    kind: 'SelfSubjectReview',
    status: { userInfo: { username: 'local-admin', groups: ['system:masters', 'system:authenticated'] } },
  });
});

test.serial('a SelfSubjectAccessReview asking about nothing, or about both kinds of attributes, is refused with 422', async (t) => {
  const request = rawClient(local.kubeconfig);
  const path = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
  const review = (spec: object) => ({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec });
  for (const spec of [{}, { resourceAttributes: { verb: 'get' }, nonResourceAttributes: { path: '/version', verb: 'get' } }]) {
    const answer = await request(path, 'POST', review(spec));
    t.is(answer.status, 422, answer.text);
    t.regex(answer.json().message, /exactly one of nonResourceAttributes or resourceAttributes must be specified/);
  }
  const allowed = await request(path, 'POST', review({ nonResourceAttributes: { path: '/version', verb: 'get' } }));
  t.is(allowed.status, 201, allowed.text);
  t.like(allowed.json(), { status: { allowed: true }, spec: { nonResourceAttributes: { path: '/version' } } });
});

test.serial('delete --dry-run=server says what it would delete and deletes nothing', async (t) => {
  const rehearsed = await local.kubectl(['delete', 'pgrole', 'app-user', '--dry-run=server']);
  t.is(rehearsed.code, 0, rehearsed.stderr);
  t.regex(rehearsed.stdout, /databaserole.postgres.databases.dinhloc.dev "app-user" deleted \(server dry run\)/);
  const still = await local.kubectl(['get', 'pgrole', 'app-user', '-o', 'jsonpath={.status.exists}']);
  t.is(still.stdout, 'true', still.stderr);
});

test.serial('delete removes the objects, and get then says NotFound', async (t) => {
  const deleted = await local.kubectl(['delete', 'pgrole', 'app-user']);
  t.is(deleted.code, 0, deleted.stderr);
  t.regex(deleted.stdout, /databaserole.postgres.databases.dinhloc.dev "app-user" deleted/);
  const get = await local.kubectl(['get', 'pgrole', 'app-user']);
  t.regex(get.stderr, /Error from server \(NotFound\): databaseroles.postgres.databases.dinhloc.dev "app-user" not found/);
});

test.serial(
  'kubectl get --raw /metrics shows request counts by verb, resource and code, the catalog pools and Events dropped',
  async (t) => {
    const { stdout, code, stderr } = await local.kubectl(['get', '--raw', '/metrics']);
    t.is(code, 0, stderr);
    t.regex(stdout, /^events_dropped_total 0$/m, 'none dropped here');
    t.regex(stdout, /apiserver_request_total\{verb="LIST",resource="databaseroles",subresource="",code="200"\} \d+/);
    t.regex(stdout, /catalog_operation_duration_seconds_count\{kind="snapshot",ok="true"\} \d+/);
    t.regex(stdout, /catalog_pool_connections\{cluster="main-cluster",database="[^"]+",state="total"\} \d+/);
  },
);
