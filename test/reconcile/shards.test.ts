// The DatabaseClusters' loops shared by shard Leases: the pure rules (which shard a cluster is in, each replica's
// share, which Leases a replica wants), then replicas electing over Leases kept in memory with kube-apiserver's
// optimistic concurrency, on a fake clock. The real kube-apiserver is in test/e2e/leader.test.ts.
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { fairShare, liveReplicas, shardOf, ShardElection, wantedLeases } from '../../reconcile/shards.ts';
import { specOf, type LeaseTiming } from '../../reconcile/lease.ts';
import { fakeClock, type FakeClock } from '../support/clock.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { ObjectAccess } from '../../storage/kubernetes/types.ts';

test('a cluster is always in the same shard, and 200 clusters fill every one of 12 shards', (t) => {
  const names = Array.from({ length: 200 }, (_none, i) => `cluster-${i}`);
  const counts = new Array<number>(12).fill(0);
  for (const name of names) {
    const shard = shardOf(name, 12);
    t.is(shardOf(name, 12), shard);
    counts[shard]!++;
  }
  t.true(
    counts.every((count) => count >= 5 && count <= 35),
    `clusters per shard: ${counts.join(', ')}`,
  );
});

const shareCases: { replicas: number; expected: number }[] = [
  { replicas: 1, expected: 12 },
  { replicas: 2, expected: 6 },
  { replicas: 3, expected: 4 },
  { replicas: 5, expected: 3 },
  { replicas: 12, expected: 1 },
  { replicas: 20, expected: 1 },
];
for (const c of shareCases) {
  test(`with ${c.replicas} live replicas each takes ${c.expected} of 12 shards`, (t) => {
    t.is(fairShare(12, c.replicas), c.expected);
  });
}

test('live replicas are the distinct holders seen, this replica counted whether it holds something or not', (t) => {
  t.is(liveReplicas([undefined, 'a', 'b', 'a'], 'me'), 3);
  t.is(liveReplicas(['me', 'a'], 'me'), 2);
  t.is(liveReplicas([], 'me'), 1);
});

const wantedCases: { name: string; holders: (string | undefined)[]; share: number; expected: (wanted: Set<number>) => boolean }[] = [
  {
    name: 'a replica holding its share keeps exactly those',
    holders: ['me', 'a', 'me', undefined],
    share: 2,
    expected: (w) => w.size === 2 && w.has(0) && w.has(2),
  },
  {
    name: 'a replica above its share keeps the lowest and gives the rest up',
    holders: ['me', 'me', 'me', 'a'],
    share: 2,
    expected: (w) => w.size === 2 && w.has(0) && w.has(1),
  },
  {
    name: 'a replica below its share adds free ones, never one another replica holds',
    holders: ['a', undefined, 'me', undefined],
    share: 3,
    expected: (w) => w.size === 3 && w.has(1) && w.has(2) && w.has(3),
  },
  {
    name: 'with nothing free a replica below its share waits',
    holders: ['a', 'a', 'b', 'me'],
    share: 2,
    expected: (w) => w.size === 1 && w.has(3),
  },
];
for (const c of wantedCases) {
  test(c.name, (t) => {
    t.true(c.expected(wantedLeases(c.holders, 'me', c.share)), [...wantedLeases(c.holders, 'me', c.share)].join(','));
  });
}

test('replicas starting together look at the free Leases from different places', (t) => {
  const free = new Array<undefined>(12).fill(undefined);
  const firsts = new Set(['a', 'b', 'c', 'd', 'e', 'f'].map((identity) => [...wantedLeases(free, identity, 1)][0]));
  t.true(firsts.size > 1);
});

/** Leases in memory, listed and written with kube-apiserver's optimistic concurrency; `failing` names a caller cut off. */
function memoryLeases() {
  const leases = new Map<string, KubeObject>();
  let version = 0;
  const store = (object: KubeObject) => {
    const stored = structuredClone({ ...object, metadata: { ...object.metadata, resourceVersion: String(++version) } });
    leases.set(object.metadata.name, stored);
    return structuredClone(stored);
  };
  const accessFor = (state: { failing: boolean }): ObjectAccess => {
    const check = () => {
      if (state.failing) throw new Error('connect ECONNREFUSED');
    };
    return {
      get: async (_namespace, name) => (check(), structuredClone(leases.get(name))),
      list: async () => (check(), structuredClone([...leases.values()])),
      named: async () => [],
      create: async (object) => {
        check();
        if (leases.has(object.metadata.name)) throw new Error('AlreadyExists');
        return store(object);
      },
      replace: async (object) => {
        check();
        if (object.metadata.resourceVersion !== leases.get(object.metadata.name)?.metadata.resourceVersion) throw new Error('Conflict');
        return store(object);
      },
      delete: async () => undefined,
    };
  };
  const holderOf = (name: string) => {
    const lease = leases.get(name);
    return lease && specOf(lease).holderIdentity;
  };
  return { accessFor, holderOf };
}

const fast: LeaseTiming = { leaseDurationMs: 2_000, renewDeadlineMs: 1_400, renewEveryMs: 300, retryPeriodMs: 200 };

interface Replica {
  election: ShardElection;
  identity: string;
  cut: { failing: boolean };
}

function replica(leases: ReturnType<typeof memoryLeases>, clock: FakeClock, identity: string, timing = fast): Replica {
  const cut = { failing: false };
  const election = new ShardElection({
    leases: leases.accessFor(cut),
    namespace: 'ns',
    prefix: 'p',
    identity,
    log: pino({ level: 'silent' }),
    timing,
    clock,
  });
  election.start();
  return { election, identity, cut };
}

/** Every shard held by exactly one of `replicas`, each holding its fair share. */
function spread(replicas: Replica[]): boolean {
  const held = replicas.map((r) => r.election.held());
  const all = held.flat();
  const share = fairShare(12, replicas.length);
  return all.length === 12 && new Set(all).size === 12 && held.every((h) => h.length >= share - 1 && h.length <= share);
}

/** Replicas started together, once every shard is held by one of them. */
async function spreadReplicas(t: ExecutionContext, identities: string[], timing = fast) {
  const clock = fakeClock();
  const leases = memoryLeases();
  const replicas = identities.map((identity) => replica(leases, clock, identity, timing));
  t.teardown(() => Promise.all(replicas.map((r) => r.election.stop())));
  t.true(await clock.until(() => spread(replicas), 10_000), replicas.map((r) => r.election.held().join(',')).join(' / '));
  return { clock, leases, replicas };
}

test('three replicas share the 12 shards, 4 each, every shard held by one, and the Leases name the holders', async (t) => {
  const { clock, leases, replicas } = await spreadReplicas(t, ['a', 'b', 'c']);
  await clock.tick(2 * fast.renewEveryMs); // each has listed the Leases since
  for (const r of replicas) {
    for (const shard of r.election.held()) t.is(leases.holderOf(`p-shard-${shard}`), r.identity);
    t.deepEqual(
      r.election.holders().map((h) => h ?? ''),
      replicas[0]!.election.holders().map((h) => h ?? ''),
      'all see the same holders',
    );
  }
  for (let waited = 0; waited < 3 * fast.leaseDurationMs; waited += 100) {
    await clock.tick(100);
    t.true(spread(replicas), `the spread changed after ${waited} ms`);
  }
});

test('a cluster is owned by the replica holding its shard, and by no other', async (t) => {
  const { leases, replicas } = await spreadReplicas(t, ['a', 'b']);
  for (const cluster of ['prod', 'staging', 'analytics', 'cluster-42']) {
    t.is(replicas.filter((r) => r.election.owns(cluster)).length, 1, cluster);
    t.is(leases.holderOf(`p-shard-${shardOf(cluster, 12)}`), replicas.find((r) => r.election.owns(cluster))!.identity);
  }
});

test('a replica cut off from kube-apiserver stops owning its clusters at its renew deadline, and the others take its shards once its Leases expire', async (t) => {
  const { clock, replicas } = await spreadReplicas(t, ['a', 'b', 'c']);
  const [dead, ...alive] = replicas as [Replica, Replica, Replica];
  const lost: number[] = [];
  dead.election.onChange(() => void lost.push(clock.now()));
  dead.cut.failing = true;
  const cutAt = clock.now();
  t.true(await clock.until(() => dead.election.held().length === 0, 5_000));
  t.true(clock.now() - cutAt <= fast.renewDeadlineMs + 10, `owned its clusters ${clock.now() - cutAt} ms after it was cut off`);
  t.true(lost.length > 0, 'its reconciler heard the loss');
  t.true(await clock.until(() => spread(alive), 10_000), alive.map((r) => r.election.held().join(',')).join(' / '));
  const takeover = clock.now() - cutAt;
  t.true(takeover >= fast.leaseDurationMs - fast.renewEveryMs, `taken over after ${takeover} ms: not before the Leases expired`);
  t.true(takeover <= fast.leaseDurationMs + 3 * fast.renewEveryMs, `taken over after ${takeover} ms`);
});

test('a replica that stops cleanly releases its shards, and the others take them at their next look', async (t) => {
  const slow = { ...fast, leaseDurationMs: 60_000, renewDeadlineMs: 40_000 };
  const { clock, replicas } = await spreadReplicas(t, ['a', 'b'], slow);
  const [leaving, staying] = replicas as [Replica, Replica];
  await leaving.election.stop();
  t.true(await clock.until(() => staying.election.held().length === 12, 3_000), 'well before the 60 s of the Leases');
});

test('a replica that joins gets its share: the others give up their surplus', async (t) => {
  const { clock, leases, replicas } = await spreadReplicas(t, ['a', 'b']);
  replicas.push(replica(leases, clock, 'c'));
  t.true(await clock.until(() => spread(replicas), 10_000), replicas.map((r) => r.election.held().join(',')).join(' / '));
});

test('a shard given up to a replica that joins is released only once its loops have stopped', async (t) => {
  const { clock, leases, replicas } = await spreadReplicas(t, ['a', 'b']);
  const [a] = replicas as [Replica, Replica];
  let loopsStopped = () => undefined as void;
  const stopping = new Promise<void>((resolve) => (loopsStopped = resolve));
  a.election.onChange(() => stopping);
  const before = a.election.held();
  replicas.push(replica(leases, clock, 'c'));
  t.true(await clock.until(() => a.election.held().length < before.length, 5_000));
  const givenUp = before.filter((shard) => !a.election.held().includes(shard));
  await clock.tick(2 * fast.renewEveryMs);
  for (const shard of givenUp) t.is(leases.holderOf(`p-shard-${shard}`), 'a', `shard ${shard} waits for the loops to stop`);
  loopsStopped();
  t.true(await clock.until(() => spread(replicas), 5_000), replicas.map((r) => r.election.held().join(',')).join(' / '));
});
