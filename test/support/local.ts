// Local mode started in-process on a free port with its own data folder, for kubectl-driven tests.
import { chmodSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { startLocalMode, type LocalMode } from '../../modes/local.ts';
import { guideManifests } from './guide.ts';
import { kubectl } from './kubectl.ts';
import { sql } from './postgres.ts';

export interface LocalServer extends LocalMode {
  dataDir: string;
  kubectl(args: string[], input?: string): ReturnType<typeof kubectl>;
  /** Stops the server and starts it again on the same data folder. */
  restart(): Promise<LocalServer>;
}

/** A new folder that PostgreSQL, which runs as nobody when started by root, can reach without a copy elsewhere. */
function searchableFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'local-'));
  chmodSync(dir, 0o755);
  return dir;
}

export async function startLocal(
  dataDir = searchableFolder(),
  options: { storeDsn?: string; resyncIntervalMs?: number; log?: Logger } = {},
): Promise<LocalServer> {
  const local = await startLocalMode({
    dataDir,
    port: 0,
    resyncIntervalMs: 500,
    log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    ...options,
  });
  const cache = join(dataDir, 'kube-cache');
  return {
    ...local,
    dataDir,
    kubectl: (args, input) => kubectl(local.kubeconfig, args, input, { KUBECACHEDIR: cache }),
    restart: async () => {
      await local.stop();
      return startLocal(dataDir, options);
    },
    stop: async () => {
      await local.stop();
      // The embedded server's folder may be elsewhere, linked from the data folder.
      rmSync(realpathSync(join(dataDir, 'postgres')), { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Local mode with the usage guide's manifests applied by kubectl. */
export async function startLocalWithGuide(): Promise<LocalServer> {
  const local = await startLocal();
  const applied = await local.kubectl(['apply', '-f', '-'], guideManifests(local.postgresDsn));
  if (applied.code !== 0) {
    await local.stop();
    throw new Error(`kubectl apply of the guide failed: ${applied.stderr}`);
  }
  return local;
}

export { guideManifests };

/** A DatabaseCluster reached as `dsn`, its Database `<name>_db`, and a DatabaseRole `<name>_user` granted SELECT on its tables. */
export function clusterManifests(name: string, dsn: string, resyncInterval: string): string {
  return `${extraCluster(name, dsn, `, resyncInterval: ${resyncInterval}`)}---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: ${name}-db, namespace: default}
spec: {name: ${name}_db, databaseClusterRef: {name: ${name}}}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${name}-user, namespace: default}
spec:
  roleName: ${name}_user
  databaseClusterRef: {name: ${name}}
  permissions: [{database: ${name}_db, schemas: [{name: public, tables: [{name: "*", privileges: [SELECT]}]}]}]
`;
}

/** The password of `<name>_member` (memberManifests). */
export const memberPassword = (name: string) => `${name}-member-password`;

/**
 * On clusterManifests' cluster `name`: a group role `<name>_group` (NOLOGIN) and a login role `<name>_member` with
 * a password from a Secret, member of the group, granted CONNECT on `<name>_db`: what event triggers never see.
 */
export function memberManifests(name: string): string {
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}-member-password, namespace: default}
stringData: {password: "${memberPassword(name)}"}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${name}-group, namespace: default}
spec: {roleName: ${name}_group, login: false, databaseClusterRef: {name: ${name}}}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: ${name}-member, namespace: default}
spec:
  roleName: ${name}_member
  password: {name: ${name}-member-password}
  memberOf: [${name}_group]
  databaseClusterRef: {name: ${name}}
  permissions: [{database: ${name}_db}]
`;
}

/** Applies clusterManifests, then makes a table `orders` as the cluster's user: its default privileges grant the role SELECT. */
export async function manageCluster(local: LocalServer, name: string, dsn: string, resyncInterval: string): Promise<void> {
  const applied = await local.kubectl(['apply', '-f', '-'], clusterManifests(name, dsn, resyncInterval));
  if (applied.code !== 0) throw new Error(`kubectl apply of cluster ${name} failed: ${applied.stderr}`);
  await sql(dsn, 'CREATE TABLE orders (id int)', { database: `${name}_db` });
}

/** Merges `spec` into a DatabaseCluster's spec with kubectl patch, as a platform team would; throws when kubectl fails. */
export async function patchClusterSpec(local: LocalServer, cluster: string, spec: Record<string, unknown>): Promise<void> {
  const result = await local.kubectl(['patch', 'pgcluster', cluster, '--type', 'merge', '-p', JSON.stringify({ spec })]);
  if (result.code !== 0) throw new Error(`kubectl patch of DatabaseCluster ${cluster} failed: ${result.stderr}`);
}

/** Polls until `check` holds (the reconciler runs every 500 ms here); false when `ms` pass first. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    if (await check()) return true;
  }
  return false;
}

/** The sum of a metric's samples on the server's /metrics whose labels include `labels`; 0 when there are none. */
export async function metricValue(local: LocalServer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { stdout, stderr, code } = await local.kubectl(['get', '--raw', '/metrics']);
  if (code !== 0) throw new Error(`kubectl get --raw /metrics: ${stderr}`);
  let sum = 0;
  for (const [, sample, labelText = '', value] of stdout.matchAll(/^(\w+)(?:\{(.*)\})? (\S+)$/gm)) {
    const labelled = Object.entries(labels).every(([k, v]) => labelText.split(',').includes(`${k}=${JSON.stringify(v)}`));
    if (sample === name && labelled) sum += Number(value);
  }
  return sum;
}

/** Passes of the cluster's reconciler finished so far (reconcile_passes_total). */
export function reconcilePasses(local: LocalServer, cluster: string): Promise<number> {
  return metricValue(local, 'reconcile_passes_total', { cluster });
}

/**
 * Polls until a whole pass of the cluster's reconciler ran after this call: the counter moved by two, as the
 * pass under way may have begun before. False when `ms` pass first.
 */
export async function passOver(local: LocalServer, cluster: string, ms = 30_000): Promise<boolean> {
  const before = await reconcilePasses(local, cluster);
  return eventually(async () => (await reconcilePasses(local, cluster)) >= before + 2, ms);
}

/** A DatabaseCluster `name` reached as `dsn` (`spec`: more of its spec, as YAML after a comma), and its connection Secret in default. */
export function extraCluster(name: string, dsn: string, spec = ''): string {
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}-connection, namespace: default}
stringData: {connection: "${dsn}"}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: ${name}}
spec: {connection: {name: ${name}-connection, namespace: default}${spec}}
`;
}

/**
 * Local mode shared by two teams: the guide applied in default (main-cluster connects as the superuser), a
 * namespace team-b, and the DatabaseClusters of `clusters` (name → DSN).
 */
export async function startSharedLocal(clusters: Record<string, string> = {}): Promise<LocalServer> {
  const local = await startLocal();
  const manifests = [
    guideManifests(local.postgresDsn),
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n',
    ...Object.entries(clusters).map(([name, dsn]) => extraCluster(name, dsn)),
  ];
  const applied = await local.kubectl(['apply', '-f', '-'], manifests.join('---\n'));
  if (applied.code !== 0) {
    await local.stop();
    throw new Error(`kubectl apply failed: ${applied.stderr}`);
  }
  return local;
}
