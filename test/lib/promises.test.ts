// within(): a race against a deadline that leaves no timer behind, whichever side wins. Serial: the tests count
// the process's timers.
import test from 'ava';
import { within } from '../../lib/promises.ts';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test.serial('work that answers first is answered, and its deadline timer is gone', async (t) => {
  const before = timers();
  t.is(await within(Promise.resolve('done'), 60_000), 'done');
  t.is(timers(), before);
});

test.serial('work slower than the deadline gives undefined once it passes; no work at all, undefined at once', async (t) => {
  const never = new Promise<string>(() => undefined);
  t.is(await within(never, 20), undefined);
  t.is(await within(undefined, 20), undefined);
});

test.serial('work that fails first fails the race, and its deadline timer is gone', async (t) => {
  const before = timers();
  await t.throwsAsync(within(Promise.reject(new Error('refused')), 60_000), { message: 'refused' });
  t.is(timers(), before);
});
