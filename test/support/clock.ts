// A fake clock for the loops, the lease and the backoffs (lib/clock.ts): time moves only when a test moves it,
// so a test asserts what happens at a given time without waiting for it, however busy the machine.
import FakeTimers from '@sinonjs/fake-timers';
import type { Clock } from '../../lib/clock.ts';

export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, running the timers due on the way and the promises they settle. */
  tick(ms: number): Promise<void>;
  /** Moves time forward in small steps until `check` holds; false if it never did within `ms`. */
  until(check: () => boolean, ms: number): Promise<boolean>;
}

export function fakeClock(start = Date.parse('2026-07-01T12:00:00Z')): FakeClock {
  const fake = FakeTimers.createClock(start);
  const clock: FakeClock = {
    now: () => fake.now,
    setTimeout: (callback, ms) => fake.setTimeout(callback, ms),
    clearTimeout: (timer) => fake.clearTimeout(timer as FakeTimers.TimerId),
    tick: async (ms) => {
      await fake.tickAsync(ms);
    },
    until: async (check, ms) => {
      for (const end = fake.now + ms; !check(); await fake.tickAsync(10)) if (fake.now >= end) return false;
      return true;
    },
  };
  return clock;
}
