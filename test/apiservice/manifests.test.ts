// The plain manifests of apiservice/manifests/: one object per file, each of the kind its file says, wired
// together (names, ports, Secrets), the Deployment hardened, and RBAC granting what the server and users need.
import { imageEntrypoint } from '../support/entrypoint.ts';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { byIdentity, manifestFiles, type Manifest } from '../support/manifests.ts';

const namespace = 'postgres-apiserver';
const name = 'postgres-apiserver';
const group = 'postgres.databases.dinhloc.dev';
const resources = ['databaseclusters', 'databases', 'databaseroles'];

const expectedKinds: Record<string, string> = {
  '00-namespace.yaml': 'Namespace',
  '10-serviceaccount.yaml': 'ServiceAccount',
  '20-clusterrole.yaml': 'ClusterRole',
  '21-clusterrolebinding.yaml': 'ClusterRoleBinding',
  '22-clusterrolebinding-auth-delegator.yaml': 'ClusterRoleBinding',
  '23-rolebinding-auth-reader.yaml': 'RoleBinding',
  '24-role-leases.yaml': 'Role',
  '25-rolebinding-leases.yaml': 'RoleBinding',
  '30-clusterrole-admin.yaml': 'ClusterRole',
  '30-clusterrole-edit.yaml': 'ClusterRole',
  '30-clusterrole-view.yaml': 'ClusterRole',
  '40-deployment.yaml': 'Deployment',
  '41-service.yaml': 'Service',
  '50-apiservice.yaml': 'APIService',
};

const files = manifestFiles();
const objects = files.flatMap((f) => f.objects);
const find = (kind: string, objectName: string, ns?: string): Manifest => {
  const object = byIdentity(objects).get(`${kind} ${ns ?? ''}/${objectName}`);
  if (!object) throw new Error(`no ${kind} ${ns ?? ''}/${objectName} in the manifests`);
  return object;
};
const deployment = find('Deployment', name, namespace);
const pod = deployment.spec.template.spec;
const container = pod.containers[0];

/** Whether RBAC rules allow `verb` on `resource` of API group `apiGroup`. */
function allows(rules: Manifest[], apiGroup: string, resource: string, verb: string): boolean {
  const has = (list: string[] | undefined, value: string) => !!list && (list.includes(value) || list.includes('*'));
  return rules.some((r) => has(r.apiGroups, apiGroup) && has(r.resources, resource) && has(r.verbs, verb));
}

test('each file holds one object of the expected kind, in the server namespace when namespaced', (t) => {
  t.deepEqual(
    files.map((f) => f.file),
    Object.keys(expectedKinds),
  );
  for (const { file, objects: inFile } of files) {
    t.is(inFile.length, 1, file);
    t.is(inFile[0]!.kind, expectedKinds[file], file);
    t.is(inFile[0]!.metadata.labels?.['app.kubernetes.io/name'], name, file);
  }
  const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'APIService'];
  const authReader = find('RoleBinding', 'postgres-apiserver:extension-apiserver-authentication-reader', 'kube-system');
  for (const o of objects.filter((o) => !clusterScoped.includes(o.kind) && o !== authReader)) t.is(o.metadata.namespace, namespace, o.kind);
});

test('the Deployment runs two replicas as the ServiceAccount, in cluster mode with the serving certificate and the store DSN', (t) => {
  t.is(deployment.spec.replicas, 2);
  t.is(pod.serviceAccountName, find('ServiceAccount', name, namespace).metadata.name);
  t.deepEqual(deployment.spec.selector.matchLabels, { 'app.kubernetes.io/name': name });
  t.like(deployment.spec.template.metadata.labels, deployment.spec.selector.matchLabels);
  t.deepEqual(container.args, [
    '--mode=cluster',
    '--port=8443',
    '--bind-address=0.0.0.0',
    '--tls-cert-file=/var/run/serving-cert/tls.crt',
    '--tls-private-key-file=/var/run/serving-cert/tls.key',
  ]);
  t.deepEqual(container.ports, [{ name: 'https', containerPort: 8443 }]);
  const env = new Map<string, Manifest>(container.env.map((e: Manifest) => [e.name, e]));
  t.deepEqual(env.get('STORE_DSN')?.valueFrom, { secretKeyRef: { name: 'postgres-apiserver-store', key: 'dsn' } });
  t.like(env.get('LOG_LEVEL'), { value: 'info' });
  t.like(env.get('RESYNC_INTERVAL'), { value: '30' });

  const mount = container.volumeMounts.find((m: Manifest) => m.mountPath === '/var/run/serving-cert');
  t.like(mount, { readOnly: true });
  t.like(
    pod.volumes.find((v: Manifest) => v.name === mount?.name),
    { secret: { secretName: 'postgres-apiserver-serving-cert' } },
  );
});

test('the Deployment is hardened: non-root, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', (t) => {
  t.is(pod.securityContext.runAsNonRoot, true);
  t.is(pod.securityContext.seccompProfile?.type, 'RuntimeDefault');
  t.is(pod.hostNetwork, undefined);
  t.is(container.securityContext.readOnlyRootFilesystem, true);
  t.is(container.securityContext.allowPrivilegeEscalation, false);
  t.deepEqual(container.securityContext.capabilities, { drop: ['ALL'] });
  t.is(container.securityContext.privileged, undefined);
  // The one writable place: an emptyDir at /tmp.
  const tmp = container.volumeMounts.find((m: Manifest) => m.mountPath === '/tmp');
  t.like(
    pod.volumes.find((v: Manifest) => v.name === tmp?.name),
    { emptyDir: {} },
  );
});

test('the Deployment is probed over HTTPS (liveness /livez, readiness /readyz) and has requests and limits', (t) => {
  t.like(container.livenessProbe, { httpGet: { path: '/livez', port: 'https', scheme: 'HTTPS' } });
  t.like(container.readinessProbe, { httpGet: { path: '/readyz', port: 'https', scheme: 'HTTPS' } });
  for (const bound of ['requests', 'limits']) {
    for (const resource of ['cpu', 'memory']) t.truthy(container.resources?.[bound]?.[resource], `${bound}.${resource}`);
  }
});

test('the pods get more time to stop than the server takes (5 s): nothing is killed halfway', (t) => {
  t.true(Number(pod.terminationGracePeriodSeconds) > 5);
});

test('the Service sends port 443 to the pods on 8443, and the APIService reaches the server through it', (t) => {
  const service = find('Service', name, namespace);
  t.is(service.spec.type, 'ClusterIP');
  t.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
  t.deepEqual(service.spec.ports, [{ name: 'https', port: 443, targetPort: 'https' }]);
  t.like(find('APIService', `v1alpha1.${group}`).spec, {
    group,
    version: 'v1alpha1',
    groupPriorityMinimum: 1000,
    versionPriority: 15,
    service: { name, namespace, port: 443 },
    caBundle: '',
  });
});

test('the ServiceAccount may delegate authentication and authorization, and read the authentication ConfigMap', (t) => {
  const subjects = [{ kind: 'ServiceAccount', name, namespace }];
  t.like(find('ClusterRoleBinding', 'postgres-apiserver:system:auth-delegator'), {
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
    subjects,
  });
  t.like(find('RoleBinding', 'postgres-apiserver:extension-apiserver-authentication-reader', 'kube-system'), {
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' },
    subjects,
  });
  t.like(find('ClusterRoleBinding', name), { roleRef: { kind: 'ClusterRole', name }, subjects });
});

test("the server's ClusterRole grants what it does, and no more", (t) => {
  const { rules } = find('ClusterRole', name);
  const granted: [string, string, string[]][] = [
    ['', 'secrets', ['get', 'list', 'watch', 'create', 'update', 'patch']],
    ['', 'services', ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']],
    ['discovery.k8s.io', 'endpointslices', ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']],
    ['', 'events', ['create', 'patch']],
    ['events.k8s.io', 'events', ['create', 'patch']],
    ['', 'namespaces', ['get', 'list', 'watch']],
  ];
  for (const [apiGroup, resource, verbs] of granted) {
    for (const verb of verbs) t.true(allows(rules, apiGroup, resource, verb), `${verb} ${apiGroup}/${resource}`);
  }
  t.false(allows(rules, '', 'secrets', 'delete'), 'never deletes a Secret');
  t.false(allows(rules, '', 'configmaps', 'get'), 'configmaps only through the kube-system reader Role');
  t.false(
    rules.some((r: Manifest) => [r.apiGroups, r.resources, r.verbs].some((l: string[]) => l.includes('*'))),
    'no wildcard',
  );
});

test("the server cannot take another component's leader Lease: its Leases are granted in its own namespace only", (t) => {
  for (const verb of ['get', 'list', 'create', 'update', 'patch', 'delete'])
    t.false(allows(find('ClusterRole', name).rules, 'coordination.k8s.io', 'leases', verb), `no ${verb} of Leases cluster-wide`);
  const role = find('Role', `${name}:leases`, namespace);
  for (const verb of ['get', 'list', 'create', 'update']) t.true(allows(role.rules, 'coordination.k8s.io', 'leases', verb), verb);
  t.false(allows(role.rules, 'coordination.k8s.io', 'leases', 'delete'), 'a Lease is released, never deleted');
  t.like(find('RoleBinding', `${name}:leases`, namespace), {
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${name}:leases` },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  });
});

test('users get our kinds through the aggregated admin, edit and view roles', (t) => {
  for (const role of ['admin', 'edit', 'view']) {
    const clusterRole = find('ClusterRole', `postgres-apiserver:aggregate-to-${role}`);
    t.is(clusterRole.metadata.labels[`rbac.authorization.k8s.io/aggregate-to-${role}`], 'true', role);
    const verbs =
      role === 'view' ? ['get', 'list', 'watch'] : ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
    for (const resource of resources) {
      for (const verb of verbs) t.true(allows(clusterRole.rules, group, resource, verb), `${role}: ${verb} ${resource}`);
    }
    if (role === 'view') t.false(allows(clusterRole.rules, group, 'databases', 'create'), 'view cannot write');
  }
});

test("the image runs as a numeric non-root user (runAsNonRoot can check it) and starts the server's main", (t) => {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const user = /^USER (\d+)(:\d+)?$/m.exec(dockerfile);
  t.truthy(user, 'USER is numeric');
  t.not(Number(user?.[1]), 0);
  t.regex(dockerfile, /^WORKDIR \/app$/m);
  t.is(imageEntrypoint().at(-1), 'dist/main.js', 'the compiled entry point');
  const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  t.is(scripts.start, ['node', ...imageEntrypoint()].join(' '), 'npm start runs what the image runs');
  t.regex(dockerfile, /^RUN npx tsc -p tsconfig.build.json$/m, 'a build stage compiles the TypeScript');
  t.regex(dockerfile, /^RUN npm ci --omit=dev/m);
});
