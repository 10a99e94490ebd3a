// 20 concurrent clients, each repeating create → get → list → delete, for 60 s: first on Secrets (the object
// store alone), then on DatabaseRoles (the store, the catalog and their SQL), against one local-mode server run
// as `npm start` runs it, in its own process. Prints throughput, p50/p99 per verb, the server's RSS and the
// PostgreSQL connections before and after. Last line: `ratio: <Secrets cycles per second / DatabaseRoles'>`.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { apiOf, guideCluster, kubectl, metricSum, rssMiB, startServerProcess, type Api } from './support.ts';

const clients = Number(process.env.BENCH_LOAD_CLIENTS ?? 20);
const durationMs = Number(process.env.BENCH_LOAD_SECONDS ?? 60) * 1000;
const verbs = ['create', 'get', 'list', 'delete'] as const;
type Verb = (typeof verbs)[number];

interface Target {
  label: string;
  collection: string;
  object(name: string): object;
}

const roles: Target = {
  label: 'DatabaseRoles',
  collection: '/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles',
  object: (name) => ({
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name, namespace: 'default' },
    spec: {
      roleName: name.replaceAll('-', '_'),
      databaseClusterRef: { name: 'main-cluster' },
      // Deleting drops the role: every cycle leaves the server as it found it.
      reclaimPolicy: 'Delete',
      permissions: [
        {
          database: 'my_app_db_production',
          schemas: [
            { name: 'public', privileges: ['USAGE'], tables: [{ name: '*', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] }] },
          ],
        },
      ],
    },
  }),
};

const secrets: Target = {
  label: 'Secrets',
  collection: '/api/v1/namespaces/default/secrets',
  object: (name) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, stringData: { password: name } }),
};

async function connections(dsn: string): Promise<number> {
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

function expect(status: number, wanted: number[], what: string, text: string): void {
  if (!wanted.includes(status)) throw new Error(`${what}: ${status} ${text.slice(0, 300)}`);
}

/** One client's cycles until the deadline; the latency of each verb in ms. */
async function client(api: Api, target: Target, id: number, until: number, timings: Record<Verb, number[]>): Promise<number> {
  let cycles = 0;
  const timed = async (verb: Verb, method: string, path: string, wanted: number[], body?: object) => {
    const started = performance.now();
    const { status, text } = await api.call(method, path, body);
    timings[verb].push(performance.now() - started);
    expect(status, wanted, `${method} ${path}`, text);
  };
  while (performance.now() < until) {
    const name = `load-${id}-${cycles}`;
    await timed('create', 'POST', target.collection, [201], target.object(name));
    await timed('get', 'GET', `${target.collection}/${name}`, [200]);
    await timed('list', 'GET', target.collection, [200]);
    await timed('delete', 'DELETE', `${target.collection}/${name}`, [200, 202]);
    cycles++;
  }
  return cycles;
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

async function phase(api: Api, target: Target, pid: number): Promise<number> {
  const timings: Record<Verb, number[]> = { create: [], get: [], list: [], delete: [] };
  let peak = rssMiB(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 250);
  const started = performance.now();
  const until = started + durationMs;
  const cycles = (await Promise.all(Array.from({ length: clients }, (_, id) => client(api, target, id, until, timings)))).reduce(
    (a, b) => a + b,
    0,
  );
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const perSecond = cycles / elapsed;
  console.log(
    `${target.label}: ${cycles} cycles in ${elapsed.toFixed(1)} s: ${perSecond.toFixed(1)} cycles/s (${(perSecond * 4).toFixed(1)} requests/s)`,
  );
  for (const verb of verbs) {
    const xs = timings[verb];
    console.log(`  ${verb.padEnd(6)} p50 ${percentile(xs, 0.5).toFixed(0)} ms, p99 ${percentile(xs, 0.99).toFixed(0)} ms (${xs.length})`);
  }
  console.log(`  server RSS: peak ${peak.toFixed(0)} MiB, after ${rssMiB(pid).toFixed(0)} MiB`);
  return perSecond;
}

/** What the server's /metrics say of the roles phase: time in requests against time in the catalog's SQL. */
async function whereTimeWent(api: Api): Promise<void> {
  const { text } = await api.call('GET', '/metrics');
  const requests = metricSum(text, 'apiserver_request_duration_seconds_sum', ['resource="databaseroles"']);
  const snapshots = metricSum(text, 'catalog_operation_duration_seconds_sum', ['kind="snapshot"']);
  const batches = metricSum(text, 'catalog_operation_duration_seconds_sum', ['kind="batch"']);
  const count = (kind: string) => metricSum(text, 'catalog_operation_duration_seconds_count', [`kind="${kind}"`]);
  console.log(
    `  DatabaseRole requests: ${requests.toFixed(0)} s in all; catalog snapshots ${snapshots.toFixed(0)} s (${count('snapshot')}), ` +
      `SQL batches ${batches.toFixed(0)} s (${count('batch')}), the reconciler's included`,
  );
}

async function main(): Promise<void> {
  const server = await startServerProcess();
  const pid = server.child.pid!;
  const api = apiOf(server.local.kubeconfig, clients);
  try {
    await kubectl(server.local, ['apply', '-f', '-'], guideCluster(server.local.postgresDsn));
    console.log(`${clients} clients, ${durationMs / 1000} s per kind; server RSS at start ${rssMiB(pid).toFixed(0)} MiB`);
    const before = await connections(server.local.postgresDsn);
    const secretsPerSecond = await phase(api, secrets, pid);
    const rolesPerSecond = await phase(api, roles, pid);
    await whereTimeWent(api);
    const after = await connections(server.local.postgresDsn);
    console.log(`PostgreSQL client connections (all of the server's, the store's included): before ${before}, after ${after}`);
    console.log(`ratio: ${(secretsPerSecond / rolesPerSecond).toFixed(2)}`);
  } finally {
    api.close();
    await server.stop();
  }
}

await main();
