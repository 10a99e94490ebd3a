// The kinds' names as discovery serves them (API.md "Resource names") and the columns kubectl get shows.
import test from 'ava';
import { kindOf, kinds, type KindDescriptor } from '../../openapi/index.ts';
import { guideCluster, guideDatabase, guideRole } from '../support/guide.ts';

const names = [
  { resource: 'databaseclusters', kind: 'DatabaseCluster', singular: 'databasecluster', shortNames: ['pgcluster'], namespaced: false },
  { resource: 'databases', kind: 'Database', singular: 'database', shortNames: ['pgdb'], namespaced: true },
  { resource: 'databaseroles', kind: 'DatabaseRole', singular: 'databaserole', shortNames: ['pgrole'], namespaced: true },
] as const;

for (const n of names) {
  test(`${n.resource} is served as API.md names it`, (t) => {
    const kind = kindOf(n.resource)!;
    t.like(kind, {
      group: 'postgres.databases.dinhloc.dev',
      version: 'v1alpha1',
      kind: n.kind,
      listKind: `${n.kind}List`,
      plural: n.resource,
      singular: n.singular,
      namespaced: n.namespaced,
    });
    t.deepEqual(kind.shortNames, n.shortNames);
    t.deepEqual(kind.categories, ['pgapi']);
  });
}

test('only the three resources are kinds, whatever the name', (t) => {
  t.deepEqual(Object.keys(kinds), ['databaseclusters', 'databases', 'databaseroles']);
  t.is(kindOf('constructor'), undefined);
  t.is(kindOf('secrets'), undefined);
});

const now = '2026-07-01T10:00:00Z';
const ready = (type: string, status: string) => ({ type, status, reason: 'Checked', message: '', lastTransitionTime: now });

/** The header and cells kubectl would show: `-o wide` includes priority 1 columns. */
function row(kind: KindDescriptor, object: Record<string, unknown>, wide = false) {
  const columns = kind.columns.filter((c) => wide || c.priority === 0);
  return Object.fromEntries(columns.map((c) => [c.name, c.cell(object as never)]));
}

test('columns of the guide objects, before and after the server reports their status', (t) => {
  const metadata = (o: Record<string, unknown>) => ({ ...(o.metadata as object), creationTimestamp: now });
  const cluster = { ...guideCluster, metadata: metadata(guideCluster) };
  t.deepEqual(row(kinds.databaseclusters, cluster), {
    Name: 'main-cluster',
    Host: null,
    Version: null,
    Ready: null,
    Databases: null,
    Roles: null,
    Age: now,
  });
  const observed = {
    ...cluster,
    status: { host: 'postgres-host:5432', serverVersion: '16.4', databases: 3, roles: 7, conditions: [ready('Ready', 'True')] },
  };
  t.like(row(kinds.databaseclusters, observed), { Host: 'postgres-host:5432', Version: '16.4', Ready: 'True', Databases: 3, Roles: 7 });

  const database = {
    ...guideDatabase,
    metadata: metadata(guideDatabase),
    status: { sizeBytes: 8012345, conditions: [ready('Ready', 'False')] },
  };
  t.deepEqual(row(kinds.databases, database), {
    Name: 'my-app-db',
    Database: 'my_app_db_production',
    Cluster: 'main-cluster',
    Size: '7.6MiB',
    Ready: 'False',
    Age: now,
  });

  const role = {
    ...guideRole,
    metadata: metadata(guideRole),
    status: {
      drift: [{}, {}],
      conditions: [ready('Ready', 'True'), ready('InSync', 'False')],
      login: false,
      validUntil: '2031-02-03T04:05:06Z',
      memberOf: ['readers', 'writers'],
    },
  };
  t.deepEqual(row(kinds.databaseroles, role), {
    Name: 'app-user',
    Role: 'my_app_user',
    Cluster: 'main-cluster',
    Ready: 'True',
    'In-Sync': 'False',
    Drift: 2,
    Age: now,
  });
  // The wide columns describe the live role, from status: a spec asking for LOGIN does not make LOGIN true.
  t.like(row(kinds.databaseroles, role, true), {
    Databases: 'my_app_db_production',
    Login: false,
    'Valid-Until': '2031-02-03T04:05:06Z',
    'Member-Of': 'readers,writers',
  });
});

test('NAME is the name column and AGE a date column on every kind', (t) => {
  for (const kind of Object.values(kinds)) {
    t.like(kind.columns[0], { name: 'Name', type: 'string', format: 'name', priority: 0 });
    t.like(
      kind.columns.find((c) => c.name === 'Age'),
      { type: 'date', priority: 0 },
    );
    t.true(kind.columns.every((c) => c.description.length > 0));
  }
});
