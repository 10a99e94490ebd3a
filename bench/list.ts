// `kubectl get databaseroles -A` over 1,000 DatabaseRoles with live status, against `kubectl get secrets -A`
// over 1,000 Secrets (no catalog) on the same local-mode server, in the same run. Last line:
// `ratio: <roles / secrets>`.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  all,
  apiOf,
  benchRole,
  guideCluster,
  inParallel,
  kubectl,
  median,
  metricSum,
  passwordSecret,
  seconds,
  startLocal,
  type Api,
  type LocalServer,
} from './support.ts';

const count = Number(process.env.BENCH_LIST_COUNT ?? 1000);
/** Timed runs of each command: `runs`, or fewer (never under `minRuns`) once `budgetMs` is spent. */
const runs = 5;
const minRuns = 3;
const budgetMs = 90_000;
/** Requests in flight while creating (creation is not timed). */
const concurrency = 8;

/** Every role must read Ready and InSync, as after POSTs: else the shortcut above made something else. */
function checkInSync(json: string): void {
  const items = (JSON.parse(json) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] }).items;
  const bad = items.filter(
    (o) => !['Ready', 'InSync'].every((type) => o.status?.conditions?.some((c) => c.type === type && c.status === 'True')),
  );
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

/** The server's counts and seconds, from /metrics, of what a list of roles spends its time on. */
async function listPhases(api: Api): Promise<{ lists: number; listSeconds: number; snapshots: number; snapshotSeconds: number }> {
  const { text } = await api.call('GET', '/metrics');
  const list = ['verb="LIST"', 'resource="databaseroles"'];
  return {
    lists: metricSum(text, 'apiserver_request_duration_seconds_count', list),
    listSeconds: metricSum(text, 'apiserver_request_duration_seconds_sum', list),
    snapshots: metricSum(text, 'catalog_operation_duration_seconds_count', ['kind="snapshot"']),
    snapshotSeconds: metricSum(text, 'catalog_operation_duration_seconds_sum', ['kind="snapshot"']),
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const local = await startLocal();
  const api = apiOf(local.kubeconfig, concurrency);
  try {
    await kubectl(local, ['apply', '-f', '-'], guideCluster(local.postgresDsn));

    let t0 = performance.now();
    await inParallel(count, concurrency, async (i) => {
      await api.post('/api/v1/namespaces/default/secrets', passwordSecret(i, randomBytes(12).toString('hex')));
    });
    const createdSecrets = performance.now() - t0;
    t0 = performance.now();
    await inParallel(count, concurrency, async (i) => {
      await api.post('/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles', benchRole(i));
    });
    const createdRoles = performance.now() - t0;
    console.log(
      `created ${count} Secrets and ${count} DatabaseRoles (POST, ${concurrency} in flight) in ${seconds(createdSecrets)} and ${seconds(createdRoles)}; not timed below`,
    );

    const roleArgs = ['get', 'databaseroles', '-A'];
    const secretArgs = ['get', 'secrets', '-A'];
    // The first of each fills kubectl's discovery cache and the server's memory of the objects (it is read from the
    // store's tables meanwhile); the first list of roles also persists the statuses that changed since the creates.
    const firstRoles = await timeKubectl(local, roleArgs, count);
    const firstSecrets = await timeKubectl(local, secretArgs, count + 1);
    console.log(
      `first runs (discovery cache cold, objects read from the store's tables, changed statuses persisted): roles ${seconds(firstRoles)}, secrets ${seconds(firstSecrets)}`,
    );
    t0 = performance.now();
    checkInSync(await kubectl(local, [...roleArgs, '-o', 'json']));
    const json = performance.now() - t0;

    const roles: number[] = [];
    const secrets: number[] = [];
    const phasesBefore = await listPhases(api);
    const timedFrom = performance.now();
    for (let run = 0; run < runs && (run < minRuns || performance.now() - timedFrom < budgetMs); run++) {
      const pair = [
        async () => roles.push(await timeKubectl(local, roleArgs, count)),
        async () => secrets.push(await timeKubectl(local, secretArgs, count + 1)),
      ];
      for (const measure of run % 2 === 0 ? pair : pair.reverse()) await measure();
    }

    const phases = await listPhases(api);
    const lists = phases.lists - phasesBefore.lists;
    const perList = (seconds: number) => `${((seconds * 1000) / lists).toFixed(0)} ms`;
    const ratio = median(roles) / median(secrets);
    console.log(`kubectl get databaseroles -A (${count} roles, live status): ${seconds(median(roles))}  [runs: ${all(roles)}]`);
    console.log(`kubectl get secrets -A (${count + 1} Secrets, no catalog):    ${seconds(median(secrets))}  [runs: ${all(secrets)}]`);
    console.log(`kubectl get databaseroles -A -o json, once: ${seconds(json)}`);
    const snapshots = phases.snapshots - phasesBefore.snapshots;
    const snapshotMs = ((phases.snapshotSeconds - phasesBefore.snapshotSeconds) * 1000) / Math.max(snapshots, 1);
    console.log(
      `in the server during the timed runs (/metrics): ${lists} LIST requests of roles (kubectl pages by 500), ` +
        `${perList(phases.listSeconds - phasesBefore.listSeconds)} each; ${snapshots} catalog snapshot reads (any reader), ${snapshotMs.toFixed(0)} ms each`,
    );
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
