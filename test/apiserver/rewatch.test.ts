// A watch that comes back: reopened after it ends, retried with a growing backoff while it fails (each failure
// reported with the count), and never again once stopped. Timings are loose on purpose: the machine is shared.
import test from 'ava';
import { keepWatching, type OpenWatch } from '../../lib/rewatch.ts';
import { eventually } from '../support/local.ts';

/** An OpenWatch whose watches the test ends by hand: `opened` counts them, `end` ends the current one. */
function handOpened(fail: (attempt: number) => unknown = () => undefined) {
  const state = { opened: 0, openedAt: [] as number[], stops: 0, end: (_error?: unknown) => {} };
  const open: OpenWatch = async (ended) => {
    state.opened += 1;
    state.openedAt.push(Date.now());
    const failure = fail(state.opened);
    if (failure) throw failure;
    state.end = ended;
    return () => void (state.stops += 1);
  };
  return { state, open };
}

test('a watch that ends is opened again, and no failure is reported', async (t) => {
  const { state, open } = handOpened();
  const failures: number[] = [];
  const watch = keepWatching(open, (_error, count) => failures.push(count));
  t.teardown(() => watch.stop());
  await eventually(() => state.opened === 1);
  state.end();
  t.true(await eventually(() => state.opened === 2, 5_000));
  t.deepEqual(failures, []);
});

test('a watch that cannot open is retried with a backoff that doubles, each failure counted; one that fails soon after opening counts on', async (t) => {
  const { state, open } = handOpened((attempt) => (attempt <= 3 ? new Error(`refused ${attempt}`) : undefined));
  const failures: [string, number][] = [];
  const watch = keepWatching(open, (error, count) => failures.push([(error as Error).message, count]));
  t.teardown(() => watch.stop());
  t.true(await eventually(() => state.opened === 4, 15_000));
  t.deepEqual(failures, [
    ['refused 1', 1],
    ['refused 2', 2],
    ['refused 3', 3],
  ]);
  // Backoffs of 1, 2 and 4 s, each with up to half taken off by jitter: these are the least waits.
  const waits = state.openedAt.slice(1).map((at, i) => at - state.openedAt[i]!);
  for (const [i, least] of [500, 1_000, 2_000].entries()) t.true(waits[i]! >= least - 20, `wait ${i + 1}: ${waits[i]} ms`);
  state.end(new Error('reset'));
  t.true(await eventually(() => failures.length === 4, 5_000));
  t.deepEqual(failures.at(-1), ['reset', 4], 'a watch that failed within 30 s of opening keeps the count');
});

test('a stopped watch is stopped and never opened again', async (t) => {
  const { state, open } = handOpened();
  const watch = keepWatching(open, () => t.fail('no failure expected'));
  // A control that is not stopped, ended just after: once it is opened again, the stopped one had its chance.
  const control = handOpened();
  const running = keepWatching(control.open, () => t.fail('no failure expected'));
  t.teardown(() => running.stop());
  await eventually(() => state.opened === 1 && control.state.opened === 1);
  watch.stop();
  t.is(state.stops, 1);
  state.end();
  control.state.end();
  t.true(await eventually(() => control.state.opened === 2, 30_000), 'the control is opened again');
  t.is(state.opened, 1);
});
