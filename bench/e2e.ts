// End to end through kube-apiserver: the server installed as the e2e suite installs it (cluster mode, run as the
// image runs it: the Dockerfile's ENTRYPOINT), against a CustomResourceDefinition of the same shape
// with no controller, served by the same kube-apiserver. `kubectl apply -f <folder>` of new DatabaseRoles until
// their grants exist, lists of 1,000 (Table and -o json), the server's memory in cluster and local mode; with
// BENCH_E2E_LARGE=1, 10,000 roles over 10 DatabaseClusters (local mode). Run by `npm run bench:e2e`, which starts
// the control plane. Last line: `ratio: <apply time of the DatabaseRoles / the CRD's>`.
import { imageEntrypoint } from '../test/support/entrypoint.ts';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { controlPlane, direct, installServer, type InstalledServer } from '../test/e2e/support/cluster.ts';
import { sql, startTestServer, type TestServer } from '../test/support/postgres.ts';
import {
  all,
  apiOf,
  benchRole,
  createTables,
  guideCluster,
  inParallel,
  kubectl,
  median,
  memoryMiB,
  metricSum,
  passwordSecret,
  processCpuMs,
  seconds,
  startServerProcess,
  ungranted,
  type Api,
} from './support.ts';

/** New DatabaseRoles (and as many CRs) per timed apply. */
const applyCount = Number(process.env.BENCH_E2E_ROLES ?? 200);
/** Timed applies of each side, taking turns going first. */
const applyRuns = Number(process.env.BENCH_E2E_RUNS ?? 3);
/** Objects of each side the lists read (at least what the applies made). */
const listCount = Math.max(Number(process.env.BENCH_E2E_LIST ?? 1000), applyCount * applyRuns);
/** Timed lists of each command, taking turns going first. */
const listRuns = Number(process.env.BENCH_E2E_LIST_RUNS ?? 5);
const large = process.env.BENCH_E2E_LARGE === '1';
const largeClusters = 10;
const largeRoles = Number(process.env.BENCH_E2E_LARGE_ROLES ?? 10_000);
/** A folder for the server's V8 CPU profile (`node --cpu-prof`), written when it stops. */
const cpuProfileDir = process.env.BENCH_E2E_CPU_PROFILE;

/** Requests in flight while arranging what is not timed. */
const concurrency = 8;
const database = 'my_app_db_production';
const tableCount = 20;
const rolesPath = '/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles';
const secretsPath = '/api/v1/namespaces/default/secrets';
const crdGroup = 'bench.postgres-apiserver.test';
const crPath = `/apis/${crdGroup}/v1alpha1/namespaces/default/benchroles`;
/** A budget per target: met / not met. */
const targets = { apply: 3, list: 1.5, listGoal: 1, memoryMiB: 150 };

const verdicts: string[] = [];
function verdict(what: string, value: string, met: boolean, target: string): void {
  verdicts.push(`target ${what}: ${value} (target ${target}): ${met ? 'met' : 'NOT MET'}`);
}

const mib = (x: number) => `${x.toFixed(0)} MiB`;
const bytes = (n: number) => `${(n / 1024).toFixed(0)} KiB (${n} bytes)`;

/** The CRD: the DatabaseRole's spec and status kept as they come, its printer columns as near as JSONPath allows. */
function benchRoleCrd(): object {
  const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const condition = (type: string) => `.status.conditions[?(@.type=="${type}")].status`;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `benchroles.${crdGroup}` },
    spec: {
      group: crdGroup,
      scope: 'Namespaced',
      names: { plural: 'benchroles', singular: 'benchrole', kind: 'BenchRole', listKind: 'BenchRoleList' },
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: open, status: open } } },
          additionalPrinterColumns: [
            { name: 'Role', type: 'string', jsonPath: '.spec.roleName' },
            { name: 'Cluster', type: 'string', jsonPath: '.spec.databaseClusterRef.name' },
            { name: 'Ready', type: 'string', jsonPath: condition('Ready') },
            { name: 'In-Sync', type: 'string', jsonPath: condition('InSync') },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            { name: 'Databases', type: 'string', jsonPath: '.spec.permissions[*].database', priority: 1 },
          ],
        },
      ],
    },
  };
}

/** The i-th benchmark role as an object of the CRD. */
function benchCr(i: number): object {
  return { ...benchRole(i), apiVersion: `${crdGroup}/v1alpha1`, kind: 'BenchRole' };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** A folder with one JSON file per object, as `kubectl apply -f <folder>` reads it. */
function folderOf(dir: string, objects: object[]): string {
  mkdirSync(dir, { recursive: true });
  objects.forEach((object, i) => writeFileSync(join(dir, `${String(i).padStart(5, '0')}.json`), JSON.stringify(object, null, 2)));
  return dir;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** Every role must read Ready and InSync; else what is listed is not what a user would see after the applies. */
function checkInSync(json: string, count: number): void {
  const items = (JSON.parse(json) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] }).items;
  const bad = items.filter(
    (o) => !['Ready', 'InSync'].every((type) => o.status?.conditions?.some((c) => c.type === type && c.status === 'True')),
  );
  if (items.length !== count || bad.length > 0) {
    throw new Error(`${items.length} roles, ${bad.length} not Ready and InSync, e.g. ${JSON.stringify(bad[0]?.status?.conditions)}`);
  }
}

function objectCount(output: string, json: boolean): number {
  return json ? (JSON.parse(output) as { items: unknown[] }).items.length : output.trimEnd().split('\n').length - 1;
}

async function expectStatus(api: Api, method: string, path: string, body: object | undefined, wanted: number): Promise<string> {
  const { status, text } = await api.call(method, path, body);
  if (status !== wanted) throw new Error(`${method} ${path}: ${status} ${text.slice(0, 500)}`);
  return text;
}

interface Cluster {
  server: InstalledServer;
  /** The PostgreSQL server's postmaster, and the control plane's kube-apiserver and etcd. */
  pids: { postgres: number; kubeApiserver: number; etcd: number };
  /** The server's /metrics, read on its own port with the admin's client certificate. */
  metrics(): Promise<string>;
  /** kubectl as the admin, with a discovery cache of its own. */
  admin: { kubeconfig: string; dataDir: string };
  api: Api;
}

/** What the server's /metrics and /proc say of a stretch of its work, as sums since it started. */
interface Tally {
  /** Seconds in DatabaseRole requests, by verb (POST, GET, LIST). */
  post: number;
  posts: number;
  get: number;
  gets: number;
  list: number;
  lists: number;
  snapshot: number;
  snapshots: number;
  batch: number;
  batches: number;
  /** Reconciler passes finished (all clusters). */
  passes: number;
  /** CPU in s: the server's process, PostgreSQL (the postmaster and every backend), kube-apiserver and etcd. */
  cpu: number;
  postgresCpu: number;
  kubeCpu: number;
}

/** The fields of /proc/<pid>/stat after the command's name. */
function statFields(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return undefined; // gone meanwhile
  }
}

/**
 * CPU of a process and of all its children, those alive and those gone (cutime, cstime), in ms: PostgreSQL's
 * backends are the postmaster's children.
 */
function treeCpuMs(pid: number): number {
  const ticks = (fields: string[] | undefined, from: number, to: number) =>
    fields ? fields.slice(from, to + 1).reduce((sum, f) => sum + Number(f), 0) : 0;
  let total = ticks(statFields(pid), 11, 14); // utime, stime, cutime, cstime
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === pid) total += ticks(fields, 11, 12);
  }
  return (total * 1000) / 100; // clock ticks (USER_HZ 100)
}

/** The process whose command line holds every one of `parts`. */
function processWith(parts: string[]): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (parts.every((part) => cmdline.includes(part))) return Number(entry);
  }
  throw new Error(`no process runs ${parts.join(' … ')}`);
}

/** The postmaster of the server at `dsn`: the parent of its checkpointer. */
async function postmasterOf(dsn: string): Promise<number> {
  const [row] = await sql<{ pid: number }>(dsn, `SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'`);
  return Number(statFields(row!.pid)![1]);
}

async function tally(c: Cluster): Promise<Tally> {
  const text = await c.metrics();
  const duration = (verb: string, what: 'sum' | 'count') =>
    metricSum(text, `apiserver_request_duration_seconds_${what}`, ['resource="databaseroles"', `verb="${verb}"`, 'subresource=""']);
  const catalog = (kind: string, what: 'sum' | 'count') =>
    metricSum(text, `catalog_operation_duration_seconds_${what}`, [`kind="${kind}"`]);
  return {
    post: duration('POST', 'sum'),
    posts: duration('POST', 'count'),
    get: duration('GET', 'sum'),
    gets: duration('GET', 'count'),
    list: duration('LIST', 'sum'),
    lists: duration('LIST', 'count'),
    snapshot: catalog('snapshot', 'sum'),
    snapshots: catalog('snapshot', 'count'),
    batch: catalog('batch', 'sum'),
    batches: catalog('batch', 'count'),
    passes: metricSum(text, 'reconcile_passes_total', []),
    cpu: processCpuMs(c.server.pid) / 1000,
    postgresCpu: treeCpuMs(c.pids.postgres) / 1000,
    kubeCpu: (processCpuMs(c.pids.kubeApiserver) + processCpuMs(c.pids.etcd)) / 1000,
  };
}

function minus(after: Tally, before: Tally): Tally {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof Tally]])) as unknown as Tally;
}

function plus(a: Tally, b: Tally): Tally {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v + b[k as keyof Tally]])) as unknown as Tally;
}

const ms = (s: number, n: number) => `${((s * 1000) / Math.max(n, 1)).toFixed(1)} ms`;

/** Part 1: `kubectl apply -f <folder>` of new roles until granted, against the same objects of the CRD. */
async function applies(c: Cluster, work: string): Promise<number> {
  const ours: number[] = [];
  const crd: number[] = [];
  let spent: Tally | undefined;
  let crdKubeCpu = 0;
  for (let run = 0; run < applyRuns; run++) {
    const indexes = range(run * applyCount, applyCount);
    const roleFolder = folderOf(
      join(work, `roles-${run}`),
      indexes.map((i) => benchRole(i)),
    );
    const crFolder = folderOf(join(work, `crs-${run}`), indexes.map(benchCr));
    const names = indexes.map((i) => benchRole(i).spec.roleName);
    const runOurs = async () => {
      const before = await tally(c);
      ours.push(
        await timed(async () => {
          await kubectl(c.admin, ['apply', '-f', roleFolder]);
          const missing = await ungranted(c.server.postgres.superuserDsn, database, names);
          if (missing.length > 0) throw new Error(`after kubectl apply, ${missing.length} roles lack their grants, e.g. ${missing[0]}`);
        }),
      );
      const delta = minus(await tally(c), before);
      spent = spent ? plus(spent, delta) : delta;
    };
    const runCrd = async () => {
      const before = await tally(c);
      crd.push(await timed(() => kubectl(c.admin, ['apply', '-f', crFolder])));
      crdKubeCpu += (await tally(c)).kubeCpu - before.kubeCpu;
    };
    for (const measure of run % 2 === 0 ? [runOurs, runCrd] : [runCrd, runOurs]) await measure();
  }
  const ratio = median(ours) / median(crd);
  const roles = applyCount * applyRuns;
  const wall = ours.reduce((a, b) => a + b, 0) / 1000;
  console.log(
    `kubectl apply -f <folder> of ${applyCount} DatabaseRoles until granted: ${seconds(median(ours))}  [runs: ${all(ours)}]` +
      ` (${ms(median(ours) / 1000, applyCount)} a role)`,
  );
  console.log(
    `  per role, from the server's /metrics and /proc: its POST ${ms(spent!.post, roles)} (${spent!.posts} POSTs), ` +
      `catalog snapshots ${ms(spent!.snapshot, roles)} (${(spent!.snapshots / roles).toFixed(1)} a role), SQL batches ${ms(spent!.batch, roles)} ` +
      `(${(spent!.batches / roles).toFixed(1)}), its GET ${ms(spent!.get, roles)}; reconciler passes (the event triggers ask for them) ` +
      `${(spent!.passes / roles).toFixed(2)} a role, their snapshots included above; the rest (kubectl, kube-apiserver, the proxy) ` +
      `${ms(wall - spent!.post - spent!.get, roles)}; CPU: the server ${ms(spent!.cpu, roles)}, PostgreSQL ${ms(spent!.postgresCpu, roles)}, ` +
      `kube-apiserver and etcd ${ms(spent!.kubeCpu, roles)}`,
  );
  console.log(
    `kubectl apply -f <folder> of ${applyCount} BenchRoles (CRD, no controller): ${seconds(median(crd))}  [runs: ${all(crd)}]` +
      ` (${ms(median(crd) / 1000, applyCount)} an object; CPU of kube-apiserver and etcd ${ms(crdKubeCpu, roles)})`,
  );
  console.log(`apply ratio: ${ratio.toFixed(2)}`);
  verdict('apply ratio', ratio.toFixed(2), ratio <= targets.apply, `≤ ${targets.apply}`);
  return ratio;
}

/** Both sides up to listCount objects (not timed); the CRs get a real role's status. */
async function fill(c: Cluster): Promise<void> {
  const made = applyCount * applyRuns;
  const rest = range(made, listCount - made);
  const t0 = performance.now();
  await inParallel(rest.length, concurrency, async (k) => {
    await c.api.post(rolesPath, benchRole(rest[k]!));
  });
  const rolesMs = performance.now() - t0;
  const status = (
    JSON.parse(await expectStatus(c.api, 'GET', `${rolesPath}/${benchRole(0).metadata.name}`, undefined, 200)) as { status: object }
  ).status;
  const t1 = performance.now();
  await inParallel(rest.length, concurrency, async (k) => {
    await c.api.post(crPath, benchCr(rest[k]!));
  });
  await inParallel(listCount, concurrency, async (i) => {
    const path = `${crPath}/${benchRole(i).metadata.name}`;
    const object = JSON.parse(await expectStatus(c.api, 'GET', path, undefined, 200)) as object;
    await expectStatus(c.api, 'PUT', `${path}/status`, { ...object, status }, 200);
  });
  console.log(
    `filled to ${listCount} of each (not timed): ${rest.length} DatabaseRoles POSTed in ${seconds(rolesMs)} (${concurrency} in flight, ` +
      `${(rest.length / (rolesMs / 1000)).toFixed(1)}/s), ${rest.length} BenchRoles and ${listCount} statuses (${JSON.stringify(status).length} bytes each) in ${seconds(performance.now() - t1)}`,
  );
}

/** Part 2: lists through kube-apiserver, Table and -o json, of both. */
async function lists(c: Cluster): Promise<void> {
  const measure = async (args: string[]) => {
    const json = args.includes('json');
    let output = '';
    const ms = await timed(async () => (output = await kubectl(c.admin, args)));
    const printed = objectCount(output, json);
    if (printed !== listCount) throw new Error(`kubectl ${args.join(' ')} gave ${printed} objects, not ${listCount}`);
    return { ms, size: Buffer.byteLength(output), output };
  };
  const commands = {
    roles: ['get', 'databaseroles', '-A'],
    crs: ['get', 'benchroles', '-A'],
    rolesJson: ['get', 'databaseroles', '-A', '-o', 'json'],
    crsJson: ['get', 'benchroles', '-A', '-o', 'json'],
  };
  // The first list of the roles persists their statuses; the first of each warms kubectl's discovery cache.
  const first = await measure(commands.roles);
  await measure(commands.crs);
  console.log(`first kubectl get databaseroles -A (statuses persisted): ${seconds(first.ms)}`);
  const times: Record<keyof typeof commands, number[]> = { roles: [], crs: [], rolesJson: [], crsJson: [] };
  const before = await tally(c);
  const sizes: Record<string, number> = {};
  for (let run = 0; run < listRuns; run++) {
    for (const pair of [
      ['roles', 'crs'],
      ['rolesJson', 'crsJson'],
    ] as const) {
      for (const key of run % 2 === 0 ? pair : [...pair].reverse()) {
        const result = await measure(commands[key]);
        times[key].push(result.ms);
        sizes[key] = result.size;
        if (key === 'rolesJson' && run === 0) checkInSync(result.output, listCount);
      }
    }
  }
  const line = (key: keyof typeof commands, label: string) =>
    console.log(`${label.padEnd(50)} ${seconds(median(times[key]))}  ${bytes(sizes[key]!).padEnd(24)} [runs: ${all(times[key])}]`);
  line('roles', `kubectl get databaseroles -A (${listCount})`);
  line('crs', `kubectl get benchroles -A (${listCount}, CRD)`);
  line('rolesJson', `kubectl get databaseroles -A -o json`);
  line('crsJson', `kubectl get benchroles -A -o json (CRD)`);
  const spent = minus(await tally(c), before);
  const kubectlRuns = times.roles.length + times.rolesJson.length;
  console.log(
    `  per kubectl get of the roles, from the server's /metrics and /proc: ${(spent.lists / kubectlRuns).toFixed(1)} LISTs taking ` +
      `${ms(spent.list, kubectlRuns)} in the server (${spent.passes} reconciler passes in all), catalog snapshots ${ms(spent.snapshot, kubectlRuns)} (${(spent.snapshots / kubectlRuns).toFixed(1)}), ` +
      `CPU: the server ${ms(spent.cpu, kubectlRuns)}, PostgreSQL ${ms(spent.postgresCpu, kubectlRuns)}, kube-apiserver and etcd ${ms(spent.kubeCpu, kubectlRuns)}`,
  );
  const list = median(times.roles) / median(times.crs);
  const json = median(times.rolesJson) / median(times.crsJson);
  console.log(`list ratio: ${list.toFixed(2)}`);
  console.log(`json ratio: ${json.toFixed(2)}`);
  for (const [what, value] of [
    ['list ratio', list],
    ['json ratio', json],
  ] as const) {
    const met = value <= targets.listGoal ? 'met (the goal too)' : value <= targets.list ? 'met (not the goal)' : 'NOT MET';
    verdicts.push(`target ${what}: ${value.toFixed(2)} (goal ≤ ${targets.listGoal}, at most ${targets.list}): ${met}`);
  }
}

function memoryLine(label: string, pid: number): { rss: number; hwm: number } {
  const memory = memoryMiB(pid);
  console.log(`${label}: VmRSS ${mib(memory.rss)}, VmHWM ${mib(memory.hwm)}`);
  return memory;
}

function memoryVerdict(what: string, memory: { rss: number; hwm: number }): void {
  verdict(what, `VmRSS ${mib(memory.rss)}, VmHWM ${mib(memory.hwm)}`, memory.hwm <= targets.memoryMiB, `≤ ${targets.memoryMiB} MiB`);
}

/** Parts 1–3 in cluster mode. */
async function clusterMode(): Promise<number> {
  const cp = controlPlane();
  const work = mkdtempSync(join(cp.dir, 'bench-e2e-'));
  const server = await installServer({
    entry: 'dist',
    resyncIntervalSeconds: 3600,
    logLevel: 'info',
    ...(cpuProfileDir ? { nodeOptions: ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] } : {}),
  });
  const clientCertificate = { cert: readFileSync(join(cp.dir, 'admin.crt'), 'utf8'), key: readFileSync(join(cp.dir, 'admin.key'), 'utf8') };
  const metrics = async () => {
    const answer = await direct(server, '/metrics', clientCertificate);
    if (answer.status !== 200) throw new Error(`GET /metrics on the server's port: ${answer.status} ${answer.text().slice(0, 300)}`);
    return answer.text();
  };
  const pids = {
    postgres: await postmasterOf(server.postgres.superuserDsn),
    kubeApiserver: processWith(['kube-apiserver', `--cert-dir=${join(cp.dir, 'certs')}`]),
    etcd: processWith(['etcd', `--data-dir=${join(cp.dir, 'etcd')}`]),
  };
  const c: Cluster = { server, metrics, pids, admin: { kubeconfig: cp.kubeconfig, dataDir: work }, api: apiOf(cp.kubeconfig, concurrency) };
  try {
    console.log(`cluster mode: the server's process ${server.pid} runs node ${imageEntrypoint().join(' ')} (resync an hour apart)`);
    memoryLine('server memory at start', server.pid);
    await kubectl(c.admin, ['apply', '-f', '-'], JSON.stringify(benchRoleCrd()));
    await kubectl(c.admin, ['wait', '--for=condition=Established', `crd/benchroles.${crdGroup}`, '--timeout=60s']);
    await kubectl(c.admin, ['apply', '-f', '-'], guideCluster(server.postgres.superuserDsn));
    await createTables(server.postgres.superuserDsn, database, tableCount);
    await kubectl(c.admin, ['api-resources']); // discovery cache warm for what is timed
    await inParallel(listCount, concurrency, async (i) => {
      await c.api.post(secretsPath, passwordSecret(i, `password-${i}`));
    });
    const ratio = await applies(c, work);
    await fill(c);
    const filled = memoryLine(`server memory with ${listCount} DatabaseRoles`, server.pid);
    await lists(c);
    const listed = memoryLine('server memory after the lists', server.pid);
    memoryVerdict(`cluster-mode memory at ${listCount} roles`, { rss: Math.max(filled.rss, listed.rss), hwm: listed.hwm });
    return ratio;
  } finally {
    c.api.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
    if (cpuProfileDir) console.log(`the server's CPU profile is in ${cpuProfileDir}`);
  }
}

/** Part 3, local mode: the compiled entry point as `npm start` runs it, at listCount roles. */
async function localMode(): Promise<void> {
  const server = await startServerProcess({ entry: 'dist' });
  const pid = server.child.pid!;
  const api = apiOf(server.local.kubeconfig, concurrency);
  try {
    await kubectl(server.local, ['apply', '-f', '-'], guideCluster(server.local.postgresDsn));
    await createTables(server.local.postgresDsn, database, tableCount);
    await inParallel(listCount, concurrency, async (i) => {
      await api.post(secretsPath, passwordSecret(i, `password-${i}`));
    });
    const ms = await timed(() =>
      inParallel(listCount, concurrency, async (i) => {
        await api.post(rolesPath, benchRole(i));
      }),
    );
    console.log(`local mode (node ${imageEntrypoint().join(' ')}, default resync): ${listCount} DatabaseRoles POSTed in ${seconds(ms)}`);
    const created = memoryLine(`local-mode server memory with ${listCount} DatabaseRoles`, pid);
    const ok = await kubectl(server.local, ['get', 'databaseroles', '-A', '-o', 'json']);
    checkInSync(ok, listCount);
    const listed = memoryLine('local-mode server memory after a list', pid);
    memoryVerdict(`local-mode memory at ${listCount} roles`, { rss: Math.max(created.rss, listed.rss), hwm: listed.hwm });
  } finally {
    api.close();
    await server.stop();
  }
}

/** reconcile_passes_total of a cluster, from the server's /metrics. */
async function passes(api: Api, cluster: string): Promise<number> {
  const text = await expectStatus(api, 'GET', '/metrics', undefined, 200);
  const line = text.split('\n').find((l) => l.startsWith(`reconcile_passes_total{cluster="${cluster}"}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** All clusters' pass counters, once two reads half a second apart agree (no pass ended meanwhile). */
async function stillPasses(api: Api, clusters: string[]): Promise<number[]> {
  let last = await Promise.all(clusters.map((cluster) => passes(api, cluster)));
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await Promise.all(clusters.map((cluster) => passes(api, cluster)));
    if (now.every((n, i) => n === last[i])) return now;
    last = now;
  }
}

/** From patching the clusters' spec.resyncInterval to `interval` until each has finished one more pass, in ms. */
async function timedPass(local: { kubeconfig: string; dataDir: string }, api: Api, clusters: string[], interval: string): Promise<number> {
  const before = await stillPasses(api, clusters);
  const started = performance.now();
  const patch = JSON.stringify({ spec: { resyncInterval: interval } });
  await Promise.all(clusters.map((cluster) => kubectl(local, ['patch', 'databasecluster', cluster, '--type=merge', '-p', patch])));
  const deadline = started + 600_000;
  for (;;) {
    const now = await Promise.all(clusters.map((cluster) => passes(api, cluster)));
    if (now.every((n, i) => n > before[i]!)) return performance.now() - started;
    if (performance.now() > deadline) throw new Error(`no pass of ${clusters.join(', ')} within 10 minutes of a spec change`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Part 4 (BENCH_E2E_LARGE=1), in local mode: largeRoles DatabaseRoles over 10 DatabaseClusters on three PostgreSQL
 * servers (the embedded one and two more), each cluster with its own Database and share of the roles.
 */
async function largeRun(): Promise<void> {
  const server = await startServerProcess({ entry: 'dist', args: ['--resync-interval', '3600'] });
  const pid = server.child.pid!;
  const api = apiOf(server.local.kubeconfig, 16);
  const extra: TestServer[] = [];
  try {
    extra.push(await startTestServer('pg17'), await startTestServer('pg17'));
    const dsns = [server.local.postgresDsn, ...extra.map((s) => s.superuserDsn)];
    const perCluster = Math.ceil(largeRoles / largeClusters);
    const clusterName = (k: number) => `large-${k}`;
    const databaseName = (k: number) => `large_db_${k}`;
    const manifests = range(0, largeClusters).map(
      (k) => `apiVersion: v1
kind: Secret
metadata: {name: ${clusterName(k)}-connection, namespace: default}
stringData: {connection: "${dsns[k % dsns.length]}"}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: ${clusterName(k)}}
spec: {connection: {name: ${clusterName(k)}-connection, namespace: default}}
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata: {name: ${clusterName(k)}-db, namespace: default}
spec: {name: ${databaseName(k)}, databaseClusterRef: {name: ${clusterName(k)}}}
`,
    );
    await kubectl(server.local, ['apply', '-f', '-'], manifests.join('---\n'));
    for (let k = 0; k < largeClusters; k++) await createTables(dsns[k % dsns.length]!, databaseName(k), tableCount);
    const role = (i: number) => {
      const base = benchRole(i);
      const k = i % largeClusters; // taking turns: the requests in flight reach several clusters, as many teams' would
      return {
        ...base,
        spec: {
          ...base.spec,
          databaseClusterRef: { name: clusterName(k) },
          permissions: base.spec.permissions!.map((p) => ({ ...p, database: databaseName(k) })),
        },
      };
    };
    await inParallel(largeRoles, 16, async (i) => {
      await api.post(secretsPath, passwordSecret(i, `password-${i}`));
    });
    let done = 0;
    const createStarted = performance.now();
    const created = await timed(() =>
      inParallel(largeRoles, 12, async (i) => {
        await api.post(rolesPath, role(i));
        if (++done % 1000 === 0)
          console.log(`  ${done} roles in ${seconds(performance.now() - createStarted)}, VmRSS ${mib(memoryMiB(pid).rss)}`);
      }),
    );
    console.log(
      `large: ${largeRoles} DatabaseRoles over ${largeClusters} DatabaseClusters (${dsns.length} PostgreSQL servers) POSTed, 12 in flight: ` +
        `${seconds(created)} (${(largeRoles / (created / 1000)).toFixed(1)}/s)`,
    );
    memoryLine(`large: server memory with ${largeRoles} roles`, pid);
    const args = ['get', 'databaseroles', '-A'];
    const firstList = await timed(() => kubectl(server.local, args));
    const list = [await timed(() => kubectl(server.local, args)), await timed(() => kubectl(server.local, args))];
    console.log(`large: kubectl get databaseroles -A: first ${seconds(firstList)} (statuses persisted), then ${all(list)} s`);
    // A DatabaseCluster's spec change asks its loop for a pass at once (150 ms later, to let a burst settle): time
    // from the patch until reconcile_passes_total moves, once the counters are still (no pass under way).
    const allClusters = range(0, largeClusters).map(clusterName);
    const one = await timedPass(server.local, api, [clusterName(0)], '24h');
    const every = await timedPass(server.local, api, allClusters, '23h');
    console.log(
      `large: a resync pass (from reconcile_passes_total; a patch of the DatabaseCluster's spec asks for one): one cluster's ` +
        `${perCluster} roles ${seconds(one)}; all ${largeClusters} clusters at once ${seconds(every)}`,
    );
    memoryLine('large: server memory after the lists and passes', pid);
  } finally {
    api.close();
    await server.stop();
    await Promise.all(extra.map((s) => s.stop()));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(1))
      .join(', ');
  console.log(`load average at start: ${load()} (2 cores are a quiet machine's 2.0)`);
  const ratio = await clusterMode();
  await localMode();
  if (large) await largeRun();
  console.log(`total run time: ${seconds(performance.now() - started)}; load average at the end: ${load()}`);
  for (const line of verdicts) console.log(line);
  console.log(`ratio: ${ratio.toFixed(2)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
