// Work on one object runs one at a time, in order, even when an earlier one fails; other objects do not wait.
import test from 'ava';
import { ObjectLocks } from '../../lib/locks.ts';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('work on one key runs one at a time and in order; a failure does not block the next', async (t) => {
  const locks = new ObjectLocks();
  const log: string[] = [];
  const step = (name: string, ms: number, fail = false) =>
    locks.run('a', async () => {
      log.push(`${name} start`);
      await pause(ms);
      log.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    });
  const results = await Promise.allSettled([step('first', 30, true), step('second', 10), step('third', 0)]);
  t.deepEqual(log, ['first start', 'first end', 'second start', 'second end', 'third start', 'third end']);
  t.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'fulfilled', 'fulfilled'],
  );
});

test('work on another key does not wait', async (t) => {
  const locks = new ObjectLocks();
  const log: string[] = [];
  const slow = locks.run('a', async () => {
    await pause(50);
    log.push('a');
  });
  await locks.run('b', async () => log.push('b'));
  await slow;
  t.deepEqual(log, ['b', 'a']);
});
