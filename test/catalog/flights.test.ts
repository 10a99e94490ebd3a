// Shared snapshot reads (flights.ts): a caller is answered only by a read that began at its call or later, and
// callers who come while a read runs share the next one. Pure: the reads are promises the test settles.
import test, { type ExecutionContext } from 'ava';
import { SharedReads } from '../../storage/catalog/flights.ts';
import type { SnapshotScope } from '../../storage/catalog/snapshot.ts';

/** Reads the test ends one by one: each answers the number of the read. */
function controlledReads() {
  const begun: { scope: SnapshotScope; end(): void; fail(): void }[] = [];
  const reads = new SharedReads<number>(
    (scope) =>
      new Promise<number>((resolve, reject) => {
        const number = begun.length + 1;
        begun.push({ scope, end: () => resolve(number), fail: () => reject(new Error(`read ${number} failed`)) });
      }),
  );
  return { reads, begun };
}

const scope = (roles: string[], databases: string[] = []): SnapshotScope => ({ roles, databases });

/** Lets the reads' settlement handlers run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a caller who comes while a read runs is answered by a read that begins after it', async (t) => {
  const { reads, begun } = controlledReads();
  const first = reads.get(scope(['a']));
  const second = reads.get(scope(['a']));
  t.not(second, first);
  t.is(begun.length, 1, 'the next read waits for the running one');
  begun[0]!.end();
  t.is(await first, 1);
  await settle();
  t.is(begun.length, 2, 'the next read begins once the running one ended');
  begun[1]!.end();
  t.is(await second, 2);
});

test('callers who come while a read runs share the next read, of the running scope', async (t) => {
  const { reads, begun } = controlledReads();
  void reads.get(scope(['a', 'b'], ['db']));
  const waiting = [reads.get(scope(['a'])), reads.get(scope(['b'], ['db'])), reads.get(scope(['a', 'b']))];
  t.true(waiting.every((w) => w === waiting[0]));
  begun[0]!.end();
  await settle();
  t.is(begun.length, 2);
  t.deepEqual(begun[1]!.scope, scope(['a', 'b'], ['db']));
  begun[1]!.end();
  t.deepEqual(await Promise.all(waiting), [2, 2, 2]);
});

test('a scope no running read covers begins its own read at once', async (t) => {
  const { reads, begun } = controlledReads();
  void reads.get(scope(['a']));
  void reads.get(scope(['a', 'b']));
  void reads.get(scope(['a'], ['db']));
  t.is(begun.length, 3);
});

test('a fresh read begins at once, and callers after it wait for the next', async (t) => {
  const { reads, begun } = controlledReads();
  void reads.get(scope(['a']));
  const fresh = reads.get(scope(['a']), { fresh: true });
  t.is(begun.length, 2);
  const later = reads.get(scope(['a']));
  t.not(later, fresh);
  begun[1]!.end();
  t.is(await fresh, 2);
});

test('the waiting read begins even when the running one fails, and a failure reaches only its callers', async (t) => {
  const { reads, begun } = controlledReads();
  const first = reads.get(scope(['a']));
  const second = reads.get(scope(['a']));
  begun[0]!.fail();
  await t.throwsAsync(first, { message: 'read 1 failed' });
  await settle();
  begun[1]!.end();
  t.is(await second, 2);
  const third = reads.get(scope(['a']));
  t.is(begun.length, 3, 'nothing runs any more: a new read begins at once');
  begun[2]!.end();
  t.is(await third, 3);
});

/** For each case, a read of the second scope while one of the first runs: shared (it waits for the next read of the first's scope) or not. */
async function expectCovering(t: ExecutionContext, cases: [running: SnapshotScope, wanted: SnapshotScope, shared: boolean][]) {
  for (const [running, wanted, shared] of cases) {
    const { reads, begun } = controlledReads();
    void reads.get(running);
    void reads.get(wanted);
    t.is(begun.length, shared ? 1 : 2, `${JSON.stringify(running)} then ${JSON.stringify(wanted)}`);
    begun[0]!.end();
    await settle();
    t.deepEqual(begun.at(-1)!.scope, shared ? running : wanted, 'the waiting read reads the running one’s scope');
  }
}

test("a read that measures the databases' usage covers one that does not, and not the other way", async (t) => {
  const cases: Parameters<typeof expectCovering>[1] = [
    [{ ...scope(['a'], ['db']), usage: true }, scope(['a'], ['db']), true],
    [scope(['a'], ['db']), { ...scope(['a'], ['db']), usage: true }, false],
  ];
  await expectCovering(t, cases);
});

test("a narrow read's contents cover only what it reads: every database's covers all, a list covers its part and 'none'", async (t) => {
  const cases: Parameters<typeof expectCovering>[1] = [
    [scope(['a']), { ...scope(['a']), contents: ['db'] }, true],
    [scope(['a']), { ...scope(['a']), contents: 'none' }, true],
    [{ ...scope(['a']), contents: ['db', 'other'] }, { ...scope(['a']), contents: ['db'] }, true],
    [{ ...scope(['a']), contents: ['db'] }, { ...scope(['a']), contents: 'none' }, true],
    [{ ...scope(['a']), contents: ['db'] }, scope(['a']), false],
    [{ ...scope(['a']), contents: ['db'] }, { ...scope(['a']), contents: ['other'] }, false],
    [{ ...scope(['a']), contents: 'none' }, { ...scope(['a']), contents: ['db'] }, false],
  ];
  await expectCovering(t, cases);
});
