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

/** A promise and the functions that settle it. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

test('work held after a write answered keeps its key locked, and reads that ask wait for it', async (t) => {
  const locks = new ObjectLocks();
  const log: string[] = [];
  const record = deferred();
  const answered = await locks.run('r/ns/a', async () => {
    locks.hold(
      'r/ns/a',
      record.promise.then(() => log.push('recorded')),
    );
    return 'answered';
  });
  t.is(answered, 'answered');
  const next = locks.run('r/ns/a', async () => log.push('next write'));
  const read = locks.settled('r/ns/a').then(() => log.push('read'));
  const list = locks.settled('r/ns/').then(() => log.push('list'));
  const otherKey = locks.run('r/ns/b', async () => log.push('other object'));
  await otherKey;
  await locks.settled('r/other/');
  t.deepEqual(log, ['other object']);
  record.resolve();
  await Promise.all([next, read, list]);
  t.deepEqual(log.slice(0, 2), ['other object', 'recorded']);
  t.deepEqual(new Set(log.slice(2)), new Set(['next write', 'read', 'list']));
});

test('held work that fails unlocks its key all the same', async (t) => {
  const locks = new ObjectLocks();
  const record = deferred();
  await locks.run('a', async () => locks.hold('a', record.promise));
  const handled = record.promise.catch((error: Error) => error.message);
  record.reject(new Error('store gone'));
  t.is(await handled, 'store gone');
  await locks.settled('');
  t.is(await locks.run('a', async () => 'ran'), 'ran');
});
