// The DatabaseClusters' loops shared among three replicas in cluster mode (reconcile/shards.ts), against the real
// kube-apiserver of the end-to-end suite: 200 DatabaseClusters on a few PostgreSQL servers, each with a short
// resyncInterval. Per replica: the shards and clusters it holds, and whether each of its clusters' passes came
// within the interval (reconcile_last_pass_start_timestamp_seconds on each replica's /metrics, scraped every second). Then one
// replica is killed (SIGKILL): how long until every one of its clusters has had a pass on another replica.
// Last line: `ratio: <takeover seconds / 15>` (the promise: a dead replica's clusters move within 15 s).
// Run: npm run bench:replicas (it starts the control plane as the e2e suite does).
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { durationMilliseconds } from '../openapi/common.ts';
import { defaultShardCount } from '../reconcile/shards.ts';
import { startTestServer, type TestServer } from '../test/support/postgres.ts';
import { controlPlane, direct, installServer, mustKubectl, namespace, type Replica } from '../test/e2e/support/cluster.ts';

const clusterCount = Number(process.env.BENCH_REPLICAS_CLUSTERS ?? 200);
const serverCount = 3;
const resyncInterval = process.env.BENCH_REPLICAS_RESYNC ?? '10s';
const intervalMs = durationMilliseconds(resyncInterval);
const scrapeMs = 1_000;
/** Passes are due at most an interval apart (reconcile/loop.ts); timers on a busy machine may fire a little late. */
const slackMs = 1_000;
const measureMs = 3 * intervalMs;
const promisedTakeoverMs = 15_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Checks every `everyMs` until `check` holds; false if it never did within `ms`. */
async function until(check: () => Promise<boolean>, ms: number, everyMs: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(everyMs)) if (await check()) return true;
  return false;
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const clusterName = (i: number) => `bench-${String(i).padStart(3, '0')}`;

function manifests(servers: TestServer[]): string {
  const secrets = servers.map(
    (server, s) => `apiVersion: v1
kind: Secret
metadata: {name: bench-connection-${s}, namespace: default}
stringData: {connection: "${server.superuserDsn}"}
`,
  );
  const clusters = Array.from(
    { length: clusterCount },
    (_none, i) => `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata: {name: ${clusterName(i)}}
spec:
  connection: {name: bench-connection-${i % servers.length}, namespace: default}
  resyncInterval: ${resyncInterval}
`,
  );
  return [...secrets, ...clusters].join('---\n');
}

/** What one scrape of a replica's /metrics says: when each cluster's last pass started, and how many loops run there. */
interface Scrape {
  lastPassStart: Map<string, number>;
  loops: number;
}

const proxy = () => {
  const { dir } = controlPlane();
  return {
    cert: readFileSync(join(dir, 'front-proxy-client.crt'), 'utf8'),
    key: readFileSync(join(dir, 'front-proxy-client.key'), 'utf8'),
    headers: [
      ['X-Remote-User', 'admin'],
      ['X-Remote-Group', 'system:masters'],
    ] as [string, string][],
  };
};

async function scrape(replica: Replica): Promise<Scrape | undefined> {
  const answer = await direct(replica, '/metrics', proxy()).catch(() => undefined);
  if (answer?.status !== 200) return undefined;
  const text = answer.text();
  const lastPassStart = new Map(
    [...text.matchAll(/^reconcile_last_pass_start_timestamp_seconds\{cluster="([^"]+)"\} (\S+)$/gm)].map(([, cluster, at]) => [
      cluster!,
      Math.round(Number(at) * 1000),
    ]),
  );
  const loops = Number(/^reconcile_loops (\d+)$/m.exec(text)?.[1] ?? 0);
  return { lastPassStart, loops };
}

/**
 * Per cluster, when each pass started and on which replica. A scrape every second sees every pass: a cluster's
 * passes are an interval apart.
 */
class PassLog {
  readonly passes = new Map<string, { at: number; replica: number }[]>();
  readonly loops: number[] = [];

  async scrapeAll(replicas: Replica[], alive: ReadonlySet<number>): Promise<void> {
    const scrapes = await Promise.all(replicas.map((r, i) => (alive.has(i) ? scrape(r) : undefined)));
    scrapes.forEach((result, replica) => {
      if (!result) return;
      this.loops[replica] = result.loops;
      for (const [cluster, at] of result.lastPassStart) {
        const seen = this.passes.get(cluster) ?? [];
        if (!seen.some((p) => p.at === at && p.replica === replica))
          this.passes.set(
            cluster,
            [...seen, { at, replica }].sort((a, b) => a.at - b.at),
          );
      }
    });
  }

  /** The longest time without a pass starting, between `from` and `to`. */
  longestGap(cluster: string, from: number, to: number): number {
    const starts = (this.passes.get(cluster) ?? []).map((p) => p.at);
    const before = starts.filter((at) => at <= from).at(-1) ?? from;
    const times = [before, ...starts.filter((at) => at > from && at <= to), to];
    return Math.max(...times.slice(1).map((at, i) => at - times[i]!));
  }

  /** The replica that ran the cluster's last pass up to `to`. */
  ownerAt(cluster: string, to: number): number | undefined {
    return (this.passes.get(cluster) ?? []).filter((p) => p.at <= to).at(-1)?.replica;
  }

  /** When the cluster's first pass on a replica other than `dead` after `since` started. */
  takenOverAt(cluster: string, dead: number, since: number): number | undefined {
    return (this.passes.get(cluster) ?? []).find((p) => p.at > since && p.replica !== dead)?.at;
  }
}

async function shardHolders(): Promise<Map<string, number>> {
  const { items } = JSON.parse(await mustKubectl(['get', 'leases', '-n', namespace, '-o', 'json'])) as {
    items: { metadata: { name: string }; spec: { holderIdentity?: string } }[];
  };
  const counts = new Map<string, number>();
  for (const lease of items.filter((l) => l.metadata.name.startsWith('postgres-apiserver-shard-')))
    counts.set(lease.spec.holderIdentity ?? '', (counts.get(lease.spec.holderIdentity ?? '') ?? 0) + 1);
  return counts;
}

function identityOf(replica: Replica): string {
  const line = readFileSync(replica.logFile, 'utf8')
    .split('\n')
    .find((l) => l.includes('electing a leader by Lease'));
  return line ? (JSON.parse(line) as { identity: string }).identity : '';
}

async function main(): Promise<void> {
  const server = await installServer();
  const targets: TestServer[] = [];
  const replicas: Replica[] = [server];
  try {
    replicas.push(await server.startReplica(), await server.startReplica());
    for (let s = 0; s < serverCount; s++) targets.push(await startTestServer('pg17', { max_connections: '400' }));
    const alive = new Set(replicas.map((_r, i) => i));
    await mustKubectl(['apply', '-f', '-'], manifests(targets));
    const log = new PassLog();
    const everyClusterRuns = async () => {
      await log.scrapeAll(replicas, alive);
      return log.loops.reduce((a, b) => a + b, 0) === clusterCount && log.passes.size === clusterCount;
    };
    if (!(await until(everyClusterRuns, 180_000, scrapeMs)))
      throw new Error(`not every cluster's loop ran within 180 s: ${log.loops.join(', ')}`);

    const from = Date.now();
    while (Date.now() - from < measureMs) {
      await log.scrapeAll(replicas, alive);
      await sleep(scrapeMs);
    }
    const to = Date.now();
    const holders = await shardHolders();
    console.log(
      `${replicas.length} replicas, ${clusterCount} DatabaseClusters on ${serverCount} PostgreSQL servers, ${defaultShardCount} shards, resyncInterval ${resyncInterval}, measured ${seconds(to - from)}`,
    );
    const clusters = Array.from({ length: clusterCount }, (_none, i) => clusterName(i));
    replicas.forEach((replica, r) => {
      const mine = clusters.filter((c) => log.ownerAt(c, to) === r);
      const gaps = mine.map((c) => log.longestGap(c, from, to));
      const inTime = gaps.filter((gap) => gap <= intervalMs + slackMs).length;
      console.log(
        `replica ${r + 1}: ${holders.get(identityOf(replica)) ?? 0} shards, ${mine.length} clusters (${log.loops[r]} loops); ` +
          `passes started within the interval (+${seconds(slackMs)} for late timers): ${inTime}/${mine.length}, longest gap ${seconds(Math.max(0, ...gaps))}`,
      );
    });

    const victim = [1, 2].reduce((a, b) => ((log.loops[a] ?? 0) >= (log.loops[b] ?? 0) ? a : b));
    const itsClusters = clusters.filter((c) => log.ownerAt(c, to) === victim);
    const killedAt = Date.now();
    await replicas[victim]!.kill('SIGKILL');
    alive.delete(victim);
    let shardsAt: number | undefined;
    const takenOver = async () => {
      await log.scrapeAll(replicas, alive);
      if (shardsAt === undefined && !(await shardHolders()).has(identityOf(replicas[victim]!))) shardsAt = Date.now();
      return itsClusters.every((c) => log.takenOverAt(c, victim, killedAt) !== undefined);
    };
    if (!(await until(takenOver, 120_000, 250))) throw new Error('the killed replica’s clusters were not taken over within 120 s');
    const takeoverMs = Math.max(...itsClusters.map((c) => log.takenOverAt(c, victim, killedAt)! - killedAt));
    console.log(
      `killed replica ${victim + 1} (SIGKILL) holding ${itsClusters.length} clusters: every one had a pass on another replica ${seconds(takeoverMs)} later (target ≤ 15 s)`,
    );
    console.log(`its shards were held by the others ${seconds((shardsAt ?? NaN) - killedAt)} after the kill`);
    console.log(`ratio: ${(takeoverMs / promisedTakeoverMs).toFixed(2)}`);
  } finally {
    // The replicas' logs are removed with the control plane: BENCH_REPLICAS_LOGS=DIR keeps a copy.
    const keep = process.env.BENCH_REPLICAS_LOGS;
    if (keep) replicas.forEach((r, i) => copyFileSync(r.logFile, join(keep, `replica-${i + 1}.log`)));
    await server.stop();
    await Promise.all(targets.map((t) => t.stop()));
  }
}

await main();
