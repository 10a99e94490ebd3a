// One DatabaseCluster's schedule: passes every interval, one pass for a burst of nudges, never two at once.
// The loop and its passes run on a fake clock: the counts below are exact, whatever the machine's load.
import test from 'ava';
import { ClusterLoop } from '../../reconcile/loop.ts';
import { fakeClock, type FakeClock } from '../support/clock.ts';

/** A pass that takes `ms` of the clock, counting passes and how many ran at once; the first `retries` ask for the next in 100 ms. */
function countingPass(clock: FakeClock, ms = 0, retries = 0) {
  const counts = { passes: 0, running: 0, mostAtOnce: 0 };
  const pass = async () => {
    counts.running += 1;
    counts.mostAtOnce = Math.max(counts.mostAtOnce, counts.running);
    if (ms > 0) await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), ms));
    counts.running -= 1;
    counts.passes += 1;
    return counts.passes <= retries ? 100 : undefined;
  };
  return { counts, pass };
}

/** A loop without jitter: its passes come at exact times. */
function loopOn(pass: () => Promise<number | undefined>, intervalMs: number, settleMs: number, clock: FakeClock) {
  return new ClusterLoop(pass, intervalMs, settleMs, clock, 0);
}

test('a burst of nudges causes one pass, once they have settled', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock);
  const loop = loopOn(pass, 3_600_000, 100, clock);
  t.teardown(() => loop.stop());
  for (let i = 0; i < 20; i++) loop.nudge();
  await clock.tick(99);
  t.is(counts.passes, 0);
  await clock.tick(600);
  t.is(counts.passes, 1);
});

test('nudges during a pass cause one more pass after it, never two at once', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock, 300);
  const loop = loopOn(pass, 3_600_000, 20, clock);
  t.teardown(() => loop.stop());
  loop.nudge();
  await clock.tick(150); // the first pass is running
  t.is(counts.running, 1);
  for (let i = 0; i < 5; i++) loop.nudge();
  await clock.tick(1_500);
  t.is(counts.passes, 2);
  t.is(counts.mostAtOnce, 1);
});

test('a loop starts with a pass, then passes every interval', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock);
  const loop = loopOn(pass, 200, 150, clock);
  t.teardown(() => loop.stop());
  loop.start();
  await clock.tick(150);
  t.is(counts.passes, 1, 'the first pass comes after the settle time');
  await clock.tick(1_000);
  t.is(counts.passes, 6, 'then one every 200 ms');
});

test('passes start an interval apart however long each takes: a cluster is compared once an interval', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock, 300);
  const loop = loopOn(pass, 1_000, 150, clock);
  t.teardown(() => loop.stop());
  loop.start();
  await clock.tick(150 + 3 * 1_000 + 300);
  t.is(counts.passes, 4, 'started at 150, 1150, 2150 and 3150 ms, not 1450 and 2750');
  t.is(counts.running, 0);
});

test('with jitter, loops started together spread over half an interval at once, then their passes start between 90 % and 100 % of the interval apart', async (t) => {
  const clock = fakeClock();
  const starts: number[][] = [[], [], [], [], []];
  const loops = starts.map((mine) => new ClusterLoop(async () => void mine.push(clock.now()), 1_000, 150, clock));
  t.teardown(() => Promise.all(loops.map((loop) => loop.stop())));
  for (const loop of loops) loop.start();
  await clock.tick(20_000);
  const toSecondPass = starts.map((mine) => mine[1]! - mine[0]!);
  t.true(
    toSecondPass.every((gap) => gap >= 500 && gap <= 1_000),
    toSecondPass.join(', '),
  );
  t.true(new Set(toSecondPass).size > 1, 'the second passes are spread');
  const gaps = starts.flatMap((mine) => mine.slice(2).map((at, i) => at - mine[i + 1]!));
  t.true(gaps.length >= 20);
  t.true(
    gaps.every((gap) => gap >= 900 && gap <= 1_000),
    gaps.join(', '),
  );
  t.true(new Set(gaps).size > 1, 'not all alike');
});

test('a shorter interval applies at once; a longer one from the next pass on', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock);
  const loop = loopOn(pass, 3_600_000, 20, clock);
  t.teardown(() => loop.stop());
  loop.start();
  await clock.tick(300);
  t.is(counts.passes, 1, 'the first pass, then an hour to wait');
  loop.setIntervalMs(100);
  await clock.tick(1_000);
  t.is(counts.passes, 11, 'at the shorter interval');
  loop.setIntervalMs(3_600_000);
  await clock.tick(100); // at most the pass already scheduled
  const settled = counts.passes;
  await clock.tick(3_599_000);
  t.is(counts.passes, settled);
  await clock.tick(1_000);
  t.is(counts.passes, settled + 1, 'the next an hour later');
});

test('a pass that failed to correct an object gets the next pass when its backoff ends, not an interval later', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock, 0, 2);
  const loop = loopOn(pass, 3_600_000, 20, clock);
  t.teardown(() => loop.stop());
  loop.start();
  await clock.tick(1_000);
  t.is(counts.passes, 3, 'the first pass and the two retries it asked for');
});

test('stop waits for the running pass and starts no other', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock, 300);
  const loop = loopOn(pass, 50, 10, clock);
  loop.start();
  await clock.tick(100);
  t.is(counts.running, 1);
  const stopped = loop.stop();
  await clock.tick(300);
  await stopped;
  t.is(counts.running, 0);
  const stoppedAt = counts.passes;
  loop.nudge();
  await clock.tick(1_000);
  t.is(counts.passes, stoppedAt);
});

test('nudges that never stop keep long passes to a quarter of the time; a short pass still follows its nudge at once', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock, 400);
  const loop = loopOn(pass, 3_600_000, 20, clock);
  const quick = countingPass(clock, 5);
  const quickLoop = loopOn(quick.pass, 3_600_000, 20, clock);
  t.teardown(async () => {
    await clock.tick(5_000); // the passes under way end
    await Promise.all([loop.stop(), quickLoop.stop()]);
  });
  for (let ms = 0; ms < 20_000; ms += 50) {
    loop.nudge();
    await clock.tick(50);
  }
  // A pass and its rest take 4 × 400 ms: 12.5 of them in 20 s (without the rest, one every 420 ms: 47).
  t.true(counts.passes >= 12 && counts.passes <= 13, `${counts.passes} passes`);

  quickLoop.nudge();
  await clock.tick(26);
  t.is(quick.counts.passes, 1);
  quickLoop.nudge();
  await clock.tick(30);
  t.is(quick.counts.passes, 2, 'a 5 ms pass rests 15 ms: the next nudge waits only its settle time');
});

test('a long pass rests 5 s at most, and a nudge during a pass never puts off the retry it asked for', async (t) => {
  const clock = fakeClock();
  const { counts, pass } = countingPass(clock, 20_000, 1); // the first pass asks for the next in 100 ms
  const loop = loopOn(pass, 3_600_000, 20, clock);
  t.teardown(async () => {
    await clock.tick(60_000);
    await loop.stop();
  });
  loop.nudge();
  await clock.tick(10_000); // the first pass is running
  loop.nudge();
  await clock.tick(10_000 + 20 + 100); // it ended: the retry comes 100 ms later, not after a rest of 60 s
  t.is(counts.running, 1, 'the retry runs');
  await clock.tick(20_000); // it ended, with no retry asked
  t.is(counts.passes, 2);
  loop.nudge();
  await clock.tick(5_000);
  t.is(counts.running, 1, 'a nudge after a 20 s pass comes within 5 s, not 60 s');
});
