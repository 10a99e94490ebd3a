// `kubectl get databaseroles -A` over 1,000 DatabaseRoles with live status, against `kubectl get secrets -A`
// over 1,000 Secrets (no catalog) on the same local-mode server, in the same run. Last line:
// `ratio: <roles / secrets>`.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { startLocalMode, type LocalMode } from '../apiserver/local.ts';
import { storeResource } from '../apiserver/resource.ts';
import type { DatabaseRoleSpec } from '../openapi/databaserole.ts';
import { kinds } from '../openapi/index.ts';
import { withDefaults } from '../openapi/validate.ts';
import { ClusterCatalog } from '../storage/catalog/cluster.ts';
import { planRole, type DesiredRole } from '../storage/catalog/roles.ts';
import { ObjectStore } from '../storage/objects/store.ts';
import { guideManifests } from '../test/support/local.ts';

const count = Number(process.env.BENCH_LIST_COUNT ?? 1000);
/** Timed runs of each command: `runs`, or fewer (never under `minRuns`) once `budgetMs` is spent. */
const runs = 5;
const minRuns = 3;
const budgetMs = 90_000;
/** Requests in flight while creating (creation is not timed). */
const concurrency = 8;

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const all = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(', ');

interface Api {
  /** The created object. */
  post(path: string, body: object): Promise<{ metadata: { resourceVersion: string } }>;
  close(): void;
}

/** POSTs with the server, CA and token of the kubeconfig, over kept-alive connections. */
function apiOf(kubeconfigPath: string): Api {
  const config = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { user: { token: string } }[];
  };
  const { server, 'certificate-authority-data': caData } = config.clusters[0]!.cluster;
  const ca = Buffer.from(caData, 'base64').toString('utf8');
  const token = config.users[0]!.user.token;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, ca });
  const post = (path: string, body: object) =>
    new Promise<{ metadata: { resourceVersion: string } }>((resolve, reject) => {
      const req = request(`${server}${path}`, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 201) resolve(JSON.parse(text));
          else reject(new Error(`POST ${path}: ${res.statusCode} ${text.slice(0, 500)}`));
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  return { post, close: () => agent.destroy() };
}

/** Runs `work` for 0..n-1, `concurrency` at a time. */
async function inParallel(n: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await work(next++);
  }));
}

/** The guide's Steps 1–3 (connection Secret, DatabaseCluster, Database); its one DatabaseRole and password Secret are left out. */
function guideCluster(dsn: string): string {
  return guideManifests(dsn).split(/^---$/m).filter((doc) => !/^kind: DatabaseRole$/m.test(doc) && !/name: app-user-password/.test(doc)).join('---');
}

type LocalServer = LocalMode & { dataDir: string };

/**
 * Local mode in-process, as test/support/local.ts starts it, but with the reconciler's resync an hour apart:
 * a pass reads every object with its live status, so at a short interval it competes with the lists timed here.
 */
async function startLocal(): Promise<LocalServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-list-'));
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as nobody, who must reach the folder inside
  const local = await startLocalMode({ dataDir, port: 0, resyncIntervalMs: 3_600_000, log: pino({ level: 'silent' }) });
  return {
    ...local,
    dataDir,
    stop: async () => {
      await local.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const suffix = (i: number) => String(i + 1).padStart(4, '0');

function secret(i: number, password: string): object {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: `bench-role-${suffix(i)}-password`, namespace: 'default' }, type: 'Opaque', stringData: { password } };
}

/** The guide's DatabaseRole, with its own role name and password Secret. */
function roleSpec(i: number): DatabaseRoleSpec {
  return {
    roleName: `bench_role_${suffix(i)}`,
    password: { name: `bench-role-${suffix(i)}-password`, key: 'password' },
    databaseClusterRef: { name: 'main-cluster' },
    permissions: [{ database: 'my_app_db_production', schemas: [{ name: 'public', privileges: ['USAGE', 'CREATE'], tables: [{ name: '*', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] }] }] }],
  };
}

/**
 * The DatabaseRoles as a POST of each would leave them, without paying the POSTs (each create lists every
 * role on the cluster, so 1,000 of them take minutes): the catalog converged by our own code (snapshot,
 * planRole, applyAll: the server's SCRAM verifiers), then the objects stored as the write path stores them
 * (defaults, generation 1, status.passwordSecretVersion). The first read checks that every one is in sync.
 */
async function createRoles(local: LocalServer, passwords: string[], secretVersions: string[]): Promise<void> {
  const specs = passwords.map((_, i) => roleSpec(i));
  const catalog = new ClusterCatalog(local.postgresDsn);
  try {
    const desired: DesiredRole[] = specs.map((spec, i) => ({ spec, password: passwords[i]!, passwordApplied: false, managedDatabases: ['my_app_db_production'] }));
    const snapshot = await catalog.snapshot({ roles: specs.map((s) => s.roleName), databases: ['my_app_db_production'] });
    const failed = (await catalog.applyAll(desired.map((d) => planRole(d, snapshot)), new Map(desired.map((d) => [d.spec.roleName, d.password!])))).filter((e) => e);
    if (failed.length > 0) throw new Error(`${failed.length} roles could not be converged, e.g. ${failed[0]!.message}`);
  } finally {
    await catalog.close();
  }
  const storeDsn = new URL(local.postgresDsn);
  storeDsn.pathname = '/apiserver';
  const store = await ObjectStore.open(storeDsn.toString());
  try {
    const resource = storeResource(kinds.databaseroles);
    await inParallel(specs.length, async (i) => {
      const object = { apiVersion: `${kinds.databaseroles.group}/${kinds.databaseroles.version}`, kind: 'DatabaseRole', metadata: { name: `bench-role-${suffix(i)}`, namespace: 'default', generation: 1 }, spec: specs[i]! };
      await store.create(resource, { ...withDefaults(object, kinds.databaseroles), status: { passwordSecretVersion: secretVersions[i]! } });
    });
  } finally {
    await store.close();
  }
}

/** kubectl with the server's kubeconfig and discovery cache; its output whole (`-o json` of 1,000 roles is megabytes). */
async function kubectl(local: LocalServer, args: string[], input?: string): Promise<string> {
  const child = spawn('kubectl', ['--kubeconfig', local.kubeconfig, ...args], { env: { ...process.env, KUBECACHEDIR: join(local.dataDir, 'kube-cache') }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(input);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`kubectl ${args.join(' ')} exited with ${code}: ${Buffer.concat(stderr).toString('utf8').slice(0, 1000)}`);
  return Buffer.concat(stdout).toString('utf8');
}

/** Every role must read Ready and InSync, as after POSTs: else the shortcut above made something else. */
function checkInSync(json: string): void {
  const items = (JSON.parse(json) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] }).items;
  const bad = items.filter((o) => !['Ready', 'InSync'].every((type) => o.status?.conditions?.some((c) => c.type === type && c.status === 'True')));
  if (items.length !== count || bad.length > 0) {
    throw new Error(`${items.length} roles, ${bad.length} not Ready and InSync, e.g. ${JSON.stringify(bad[0]?.status?.conditions)}`);
  }
}

/** Wall clock of one kubectl process; fails unless it printed a header and `rows` rows. */
async function timeKubectl(local: LocalServer, args: string[], rows: number): Promise<number> {
  const started = performance.now();
  const stdout = await kubectl(local, args);
  const elapsed = performance.now() - started;
  const printed = stdout.trimEnd().split('\n').length - 1;
  if (printed !== rows) throw new Error(`kubectl ${args.join(' ')} printed ${printed} rows, not ${rows}`);
  return elapsed;
}

async function main(): Promise<void> {
  const started = performance.now();
  const local = await startLocal();
  const api = apiOf(local.kubeconfig);
  try {
    await kubectl(local, ['apply', '-f', '-'], guideCluster(local.postgresDsn));

    let t0 = performance.now();
    const passwords = Array.from({ length: count }, () => randomBytes(12).toString('hex'));
    const secretVersions: string[] = new Array(count);
    await inParallel(count, async (i) => {
      secretVersions[i] = (await api.post('/api/v1/namespaces/default/secrets', secret(i, passwords[i]!))).metadata.resourceVersion;
    });
    const createdSecrets = performance.now() - t0;
    t0 = performance.now();
    await createRoles(local, passwords, secretVersions);
    const createdRoles = performance.now() - t0;
    console.log(`created ${count} Secrets (POST, ${concurrency} in flight) in ${seconds(createdSecrets)}, ${count} DatabaseRoles (catalog + store) in ${seconds(createdRoles)}; not timed below`);

    const roleArgs = ['get', 'databaseroles', '-A'];
    const secretArgs = ['get', 'secrets', '-A'];
    // The first of each fills kubectl's discovery cache; the first list of roles also persists every live status.
    const firstRoles = await timeKubectl(local, roleArgs, count);
    const firstSecrets = await timeKubectl(local, secretArgs, count + 1);
    console.log(`first runs (discovery cache cold; ${count} statuses persisted): roles ${seconds(firstRoles)}, secrets ${seconds(firstSecrets)}`);
    t0 = performance.now();
    checkInSync(await kubectl(local, [...roleArgs, '-o', 'json']));
    const json = performance.now() - t0;

    const roles: number[] = [];
    const secrets: number[] = [];
    const timedFrom = performance.now();
    for (let run = 0; run < runs && (run < minRuns || performance.now() - timedFrom < budgetMs); run++) {
      const pair = [async () => roles.push(await timeKubectl(local, roleArgs, count)), async () => secrets.push(await timeKubectl(local, secretArgs, count + 1))];
      for (const measure of run % 2 === 0 ? pair : pair.reverse()) await measure();
    }

    const ratio = median(roles) / median(secrets);
    console.log(`kubectl get databaseroles -A (${count} roles, live status): ${seconds(median(roles))}  [runs: ${all(roles)}]`);
    console.log(`kubectl get secrets -A (${count + 1} Secrets, no catalog):    ${seconds(median(secrets))}  [runs: ${all(secrets)}]`);
    console.log(`kubectl get databaseroles -A -o json, once: ${seconds(json)}`);
    console.log(`total run time: ${seconds(performance.now() - started)}`);
    console.log(`ratio: ${ratio.toFixed(2)}`);
  } finally {
    api.close();
    await local.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
