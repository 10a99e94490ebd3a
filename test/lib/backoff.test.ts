// The one backoff every retry uses: doubling from the first delay to the cap, drawn between half and all of it.
import test from 'ava';
import { Backoff, backoffDelay } from '../../lib/backoff.ts';

const options = { firstMs: 1_000, maxMs: 10_000 };

test('the delay doubles with each failure in a row up to the cap, between half and all of it', (t) => {
  const lowest = [1, 2, 3, 4, 5, 6].map((failures) => backoffDelay(failures, { ...options, random: () => 0 }));
  const highest = [1, 2, 3, 4, 5, 6].map((failures) => backoffDelay(failures, { ...options, random: () => 0.999_999 }));
  t.deepEqual(lowest, [500, 1_000, 2_000, 4_000, 5_000, 5_000]);
  t.deepEqual(highest, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
});

test('Backoff counts the failures itself and starts again from the first delay after a reset', (t) => {
  const backoff = new Backoff({ ...options, random: () => 0 });
  t.deepEqual([backoff.next(), backoff.next(), backoff.next()], [500, 1_000, 2_000]);
  backoff.reset();
  t.is(backoff.next(), 500);
});
