// Table output as kubectl asks for it and prints it.
import test from 'ava';
import { humanDuration, includeObjectOf, toTable, wantsTable } from '../../apiserver/table.ts';
import { ageColumn, nameColumn } from '../../openapi/kind.ts';
import { StatusError } from '../../openapi/status.ts';
import type { KubeObject } from '../../openapi/objects.ts';

const s = 1000;
const durations: [number, string][] = [
  [-5 * s, '<invalid>'],
  [-1 * s, '0s'],
  [0, '0s'],
  [59 * s, '59s'],
  [119 * s, '119s'],
  [120 * s, '2m'],
  [125 * s, '2m5s'],
  [600 * s, '10m'],
  [179 * 60 * s, '179m'],
  [3 * 3600 * s, '3h'],
  [3 * 3600 * s + 5 * 60 * s, '3h5m'],
  [8 * 3600 * s, '8h'],
  [47 * 3600 * s, '47h'],
  [48 * 3600 * s, '2d'],
  [50 * 3600 * s, '2d2h'],
  [8 * 86400 * s, '8d'],
  [730 * 86400 * s, '2y'],
  [800 * 86400 * s, '2y70d'],
  [9 * 365 * 86400 * s, '9y'],
];

for (const [ms, text] of durations) {
  test(`an age of ${ms} ms prints as ${text}`, (t) => {
    t.is(humanDuration(ms), text);
  });
}

test('kubectl get asks for a Table; plain clients get objects', (t) => {
  t.true(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'));
  t.true(wantsTable('application/json;as=Table;g=meta.k8s.io;v=v1beta1'));
  t.false(wantsTable('application/json'));
  t.false(wantsTable(undefined));
  t.false(wantsTable('application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io'));
});

test('includeObject takes None, Metadata (the default) and Object; anything else is a BadRequest', (t) => {
  t.is(includeObjectOf(undefined), 'Metadata');
  t.is(includeObjectOf('Object'), 'Object');
  t.throws(() => includeObjectOf('Everything'), {
    instanceOf: StatusError,
    message: `Unable to convert to Table as requested: includeObject: Invalid value: "Everything": must be 'Metadata', 'Object', 'None', or empty`,
  });
});

const object: KubeObject = {
  apiVersion: 'v1',
  kind: 'Thing',
  metadata: { name: 'a', namespace: 'ns', creationTimestamp: '2026-11-27T18:00:00Z' },
};

test('a table has one cell per column, and the object as PartialObjectMetadata by default', (t) => {
  const table = toTable([nameColumn, ageColumn], [object], {
    include: 'Metadata',
    withColumns: true,
    metadata: { resourceVersion: '7' },
    now: Date.parse('2026-11-27T18:05:00Z'),
  });
  t.deepEqual(table, {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: '7' },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', priority: 0, description: nameColumn.description },
      { name: 'Age', type: 'date', format: '', priority: 0, description: ageColumn.description },
    ],
    rows: [{ cells: ['a', '5m'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata } }],
  });
  t.false('columnDefinitions' in toTable([nameColumn], [object], { include: 'None', withColumns: false }));
  t.false('object' in toTable([nameColumn], [object], { include: 'None', withColumns: false }).rows[0]!);
});

test('a v1beta1 Table and its rows are meta.k8s.io/v1beta1; Object rows hold the object itself', (t) => {
  const table = toTable([nameColumn], [object], { include: 'Metadata', groupVersion: 'meta.k8s.io/v1beta1', withColumns: false });
  t.is(table.apiVersion, 'meta.k8s.io/v1beta1');
  t.deepEqual(table.rows[0]!.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1beta1', metadata: object.metadata });
  t.is(toTable([nameColumn], [object], { include: 'Object', withColumns: false }).rows[0]!.object, object);
});
