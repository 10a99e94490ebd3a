// spec.resyncInterval beyond its format: its bounds, and how it becomes the interval of the cluster's loop.
import test from 'ava';
import { resyncIntervalMs, validateClusterSpec, type DatabaseClusterSpec } from '../../openapi/databasecluster.ts';

const connection = { name: 'postgres-connection', namespace: 'default' };
const spec = (resyncInterval?: string): DatabaseClusterSpec => ({
  connection,
  ...(resyncInterval === undefined ? {} : { resyncInterval }),
});

for (const interval of ['1s', '30s', '1m30s', '1.5h', '24h']) {
  test(`a resync interval of ${interval} is accepted`, (t) => {
    t.deepEqual(validateClusterSpec(spec(interval)), []);
  });
}

for (const interval of ['0s', '500ms', '24h1s', '1000h']) {
  test(`a resync interval of ${interval} is refused, naming spec.resyncInterval`, (t) => {
    t.deepEqual(validateClusterSpec(spec(interval)), [
      { type: 'FieldValueInvalid', field: 'spec.resyncInterval', message: `Invalid value: "${interval}": must be from 1s to 24h` },
    ]);
  });
}

test("a cluster without resyncInterval is compared at the server's default interval", (t) => {
  t.is(resyncIntervalMs(spec(), 10_000), 10_000);
  t.is(resyncIntervalMs(spec('1m30s'), 10_000), 90_000);
});

test('an interval stored before its bounds were checked is kept within them', (t) => {
  t.is(resyncIntervalMs(spec('0s'), 10_000), 1_000);
  t.is(resyncIntervalMs(spec('1000h'), 10_000), 24 * 3_600_000);
});
