// One DatabaseCluster's schedule: passes every interval, one pass for a burst of nudges, never two at once.
// Timings are loose on purpose: the machine is shared.
import test from 'ava';
import { ClusterLoop } from '../../reconcile/loop.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A pass that takes `ms`, counting passes and how many ran at once; the first `retries` ask for the next in 100 ms. */
function countingPass(ms = 0, retries = 0) {
  const counts = { passes: 0, running: 0, mostAtOnce: 0 };
  const pass = async () => {
    counts.running += 1;
    counts.mostAtOnce = Math.max(counts.mostAtOnce, counts.running);
    await sleep(ms);
    counts.running -= 1;
    counts.passes += 1;
    return counts.passes <= retries ? 100 : undefined;
  };
  return { counts, pass };
}

test('a burst of nudges causes one pass', async (t) => {
  const { counts, pass } = countingPass();
  const loop = new ClusterLoop(pass, 3_600_000, 100);
  t.teardown(() => loop.stop());
  for (let i = 0; i < 20; i++) loop.nudge();
  await sleep(600);
  t.is(counts.passes, 1);
});

test('nudges during a pass cause one more pass after it, never two at once', async (t) => {
  const { counts, pass } = countingPass(300);
  const loop = new ClusterLoop(pass, 3_600_000, 20);
  t.teardown(() => loop.stop());
  loop.nudge();
  await sleep(150); // the first pass is running
  for (let i = 0; i < 5; i++) loop.nudge();
  await sleep(1_500);
  t.is(counts.passes, 2);
  t.is(counts.mostAtOnce, 1);
});

test('a loop starts with a pass, then passes every interval', async (t) => {
  const { counts, pass } = countingPass();
  const loop = new ClusterLoop(pass, 200);
  t.teardown(() => loop.stop());
  loop.start();
  await sleep(1_500);
  t.true(counts.passes >= 3 && counts.passes <= 9, `${counts.passes} passes`);
});

test('a shorter interval applies at once; a longer one from the next pass on', async (t) => {
  const { counts, pass } = countingPass();
  const loop = new ClusterLoop(pass, 3_600_000, 20);
  t.teardown(() => loop.stop());
  loop.start();
  await sleep(300);
  t.is(counts.passes, 1, 'the first pass, then an hour to wait');
  loop.setIntervalMs(100);
  await sleep(1_000);
  t.true(counts.passes >= 3, `${counts.passes} passes at the shorter interval`);
  loop.setIntervalMs(3_600_000);
  await sleep(300); // at most the pass already scheduled
  const settled = counts.passes;
  await sleep(700);
  t.is(counts.passes, settled);
});

test('a pass that failed to correct an object gets the next pass when its backoff ends, not an interval later', async (t) => {
  const { counts, pass } = countingPass(0, 2);
  const loop = new ClusterLoop(pass, 3_600_000, 20);
  t.teardown(() => loop.stop());
  loop.start();
  await sleep(1_000);
  t.is(counts.passes, 3, 'the first pass and the two retries it asked for');
});

test('stop waits for the running pass and starts no other', async (t) => {
  const { counts, pass } = countingPass(300);
  const loop = new ClusterLoop(pass, 50, 10);
  loop.start();
  await sleep(100);
  await loop.stop();
  t.is(counts.running, 0);
  const stoppedAt = counts.passes;
  loop.nudge();
  await sleep(300);
  t.is(counts.passes, stoppedAt);
});
