// Leader election by Lease: the rules client-go follows, as pure functions, then elections over a Lease kept in
// memory with kube-apiserver's optimistic concurrency (a write naming an old resourceVersion is a Conflict).
// The real kube-apiserver is in test/e2e/leader.test.ts. The elections run on a fake clock: their timings are
// exact, whatever the machine's load.
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import {
  claimed,
  heldByAnother,
  LeaseElection,
  observe,
  released,
  specOf,
  type LeaseSpec,
  type LeaseTiming,
} from '../../reconcile/lease.ts';
import { fakeClock, type FakeClock } from '../support/clock.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { ObjectAccess } from '../../storage/kubernetes/types.ts';

const lease = (spec: LeaseSpec, resourceVersion = '1'): KubeObject => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: 'l', namespace: 'ns', resourceVersion },
  spec,
});
const held = {
  holderIdentity: 'other',
  leaseDurationSeconds: 15,
  acquireTime: '2020-01-01T00:00:00.000000Z',
  renewTime: '2020-01-01T00:00:05.000000Z',
  leaseTransitions: 3,
};

test('a Lease seen again unchanged keeps the time it was first seen; a changed record restarts the clock', (t) => {
  const first = observe(undefined, lease(held), 1_000);
  t.is(first.changedAt, 1_000);
  t.is(observe(first, lease(held, '2'), 9_000).changedAt, 1_000, 'a new resourceVersion alone is no renewal');
  t.is(observe(first, lease({ ...held, renewTime: '2020-01-01T00:00:07.000000Z' }), 9_000).changedAt, 9_000);
});

const holdingCases: { name: string; spec: LeaseSpec; seenFor: number; expected: boolean }[] = [
  { name: 'another holder, seen unchanged for less than its duration, holds it', spec: held, seenFor: 14_000, expected: true },
  { name: 'another holder, seen unchanged for its whole duration, has lost it', spec: held, seenFor: 15_000, expected: false },
  {
    name: 'a renewTime far in the future changes nothing: only this clock counts',
    spec: { ...held, renewTime: '2999-01-01T00:00:00.000000Z' },
    seenFor: 15_000,
    expected: false,
  },
  { name: 'a released Lease (no holder) is free at once', spec: { ...held, holderIdentity: '' }, seenFor: 0, expected: false },
  { name: "this replica's own Lease is never held by another", spec: { ...held, holderIdentity: 'me' }, seenFor: 0, expected: false },
];
for (const c of holdingCases) {
  test(c.name, (t) => {
    t.is(heldByAnother(observe(undefined, lease(c.spec), 100_000), 'me', 100_000 + c.seenFor), c.expected);
  });
}

const now = new Date('2026-07-01T12:00:00.123Z');
const claimCases: { name: string; current: LeaseSpec | undefined; expected: LeaseSpec }[] = [
  {
    name: 'the first holder creates the Lease with no transition',
    current: undefined,
    expected: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: '2026-07-01T12:00:00.123000Z',
      renewTime: '2026-07-01T12:00:00.123000Z',
      leaseTransitions: 0,
    },
  },
  {
    name: 'a renewal keeps acquireTime and the transitions',
    current: { ...held, holderIdentity: 'me' },
    expected: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: held.acquireTime,
      renewTime: '2026-07-01T12:00:00.123000Z',
      leaseTransitions: 3,
    },
  },
  {
    name: 'taking the Lease from another holder counts a transition',
    current: held,
    expected: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: '2026-07-01T12:00:00.123000Z',
      renewTime: '2026-07-01T12:00:00.123000Z',
      leaseTransitions: 4,
    },
  },
  {
    name: 'taking a released Lease counts a transition too',
    current: released(held, now),
    expected: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: '2026-07-01T12:00:00.123000Z',
      renewTime: '2026-07-01T12:00:00.123000Z',
      leaseTransitions: 4,
    },
  },
];
for (const c of claimCases) {
  test(c.name, (t) => {
    t.deepEqual(claimed(c.current, 'me', 15, now), c.expected);
  });
}

test('a released Lease has no holder, one second left, and keeps the count of transitions', (t) => {
  t.like(released(held, now), { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 3 });
});

/** One Lease in memory; `failing` makes every call fail, as an unreachable kube-apiserver would. */
function memoryLeases() {
  const state = { lease: undefined as KubeObject | undefined, version: 0, failing: false };
  const check = () => {
    if (state.failing) throw new Error('connect ECONNREFUSED');
  };
  const store = (object: KubeObject) => {
    state.lease = structuredClone({ ...object, metadata: { ...object.metadata, resourceVersion: String(++state.version) } });
    return structuredClone(state.lease);
  };
  const access: ObjectAccess = {
    get: async () => {
      check();
      return structuredClone(state.lease);
    },
    list: async () => [],
    named: async () => [],
    create: async (object) => {
      check();
      if (state.lease) throw new Error('AlreadyExists');
      return store(object);
    },
    replace: async (object) => {
      check();
      if (object.metadata.resourceVersion !== state.lease?.metadata.resourceVersion) throw new Error('Conflict');
      return store(object);
    },
    delete: async () => undefined,
  };
  return { state, access, holder: () => state.lease && specOf(state.lease).holderIdentity };
}

const fast: LeaseTiming = { leaseDurationMs: 2_000, renewDeadlineMs: 1_400, renewEveryMs: 300, retryPeriodMs: 200 };

/** An election on a fake clock: time moves only as the test says, so the timings below are exact. */
function election(leases: ObjectAccess, clock: FakeClock, timing = fast): LeaseElection {
  return new LeaseElection({ leases, namespace: 'ns', name: 'l', log: pino({ level: 'silent' }), timing, clock });
}

test('of two replicas exactly one leads, the Lease names it, and it keeps the lead while it renews', async (t) => {
  const clock = fakeClock();
  const { access, holder } = memoryLeases();
  const [a, b] = [election(access, clock), election(access, clock)];
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  a.start();
  b.start();
  t.true(await clock.until(() => a.isLeader() !== b.isLeader(), 5_000));
  const leader = a.isLeader() ? a : b;
  t.is(holder(), leader.identity);
  for (let waited = 0; waited < 2 * fast.leaseDurationMs; waited += 100) {
    await clock.tick(100);
    t.true(leader.isLeader(), `lost the lead after ${waited} ms`);
    t.false((leader === a ? b : a).isLeader(), 'never two leaders');
  }
  t.is(holder(), leader.identity);
});

test('a leader that stops cleanly releases the Lease, and the other takes over at its next look, well before the Lease would expire', async (t) => {
  const clock = fakeClock();
  const slow = { ...fast, leaseDurationMs: 60_000, renewDeadlineMs: 40_000 };
  const { access, state, holder } = memoryLeases();
  const a = election(access, clock, slow);
  a.start();
  t.true(await clock.until(() => a.isLeader(), 5_000));
  const b = election(access, clock, slow);
  t.teardown(() => b.stop());
  b.start();
  await clock.tick(500);
  await a.stop();
  t.like(specOf(state.lease!), { holderIdentity: '', leaseDurationSeconds: 1 });
  t.true(await clock.until(() => b.isLeader(), 2_000), 'within a second and a retry period, not the 60 s of the Lease');
  t.is(holder(), b.identity);
  t.is(specOf(state.lease!).leaseTransitions, 1);
});

/** A leader, with what its listeners heard, whose renewals fail from now on; when it last renewed. */
async function leaderLosingItsLease(t: ExecutionContext, clock: FakeClock) {
  const { access, state } = memoryLeases();
  const a = election(access, clock);
  t.teardown(() => a.stop());
  const heard: boolean[] = [];
  a.onChange((leading) => heard.push(leading));
  a.start();
  t.true(await clock.until(() => a.isLeader(), 5_000));
  state.failing = true;
  return { a, heard, renewedAt: Date.parse(specOf(state.lease!).renewTime!) };
}

test('a leader that cannot renew stops leading exactly at the renew deadline, and its listeners hear it before isLeader() says so', async (t) => {
  const clock = fakeClock();
  const { a, heard, renewedAt } = await leaderLosingItsLease(t, clock);
  t.true(await clock.until(() => !a.isLeader(), 5_000));
  t.deepEqual(heard, [true, false], 'the listeners knew when isLeader() turned false');
  t.true(
    clock.now() >= renewedAt + fast.renewDeadlineMs && clock.now() <= renewedAt + fast.renewDeadlineMs + 10,
    `led on for ${clock.now() - renewedAt} ms after the last renewal`,
  );
});

test('a leader asked between the renew deadline and the timer that marks it hears the loss first: no reader sees a lead its listeners do not', async (t) => {
  const clock = fakeClock();
  const { a, heard, renewedAt } = await leaderLosingItsLease(t, clock);
  // A busy process: the clock passes the deadline before any timer runs.
  (clock as unknown as { now: () => number }).now = () => renewedAt + fast.renewDeadlineMs;
  t.false(a.isLeader());
  t.deepEqual(heard, [true, false]);
});

test('a follower takes a Lease its holder stopped renewing only once it has seen it unchanged for the lease duration', async (t) => {
  const clock = fakeClock();
  const { access, state, holder } = memoryLeases();
  state.lease = lease({ ...held, leaseDurationSeconds: 2 });
  state.version = 1;
  const b = election(access, clock);
  t.teardown(() => b.stop());
  const startedAt = clock.now();
  b.start();
  t.true(await clock.until(() => b.isLeader(), 10_000));
  t.true(clock.now() - startedAt >= 2_000, `took over after ${clock.now() - startedAt} ms`);
  t.true(clock.now() - startedAt <= 2_000 + 1.2 * fast.retryPeriodMs + 10, `took over after ${clock.now() - startedAt} ms`);
  t.is(holder(), b.identity);
});

test('a leader that finds another holder in the Lease stops leading at its next renewal, not at the renew deadline', async (t) => {
  const clock = fakeClock();
  const { access, state } = memoryLeases();
  const a = election(access, clock, { ...fast, renewDeadlineMs: 30_000, leaseDurationMs: 40_000, renewEveryMs: 2_000 });
  t.teardown(() => a.stop());
  a.start();
  t.true(await clock.until(() => a.isLeader(), 5_000));
  state.lease = {
    ...state.lease!,
    metadata: { ...state.lease!.metadata, resourceVersion: String(++state.version) },
    spec: { ...held, holderIdentity: 'usurper', leaseDurationSeconds: 40 },
  };
  t.true(await clock.until(() => !a.isLeader(), 2_000 + 10));
});
