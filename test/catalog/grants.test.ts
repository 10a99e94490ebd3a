// status.permissions from a snapshot, as a table of cases: the live grants in the shape of spec.permissions,
// "*" for what every existing object has plus the default privileges, objects holding other privileges named.
import test from 'ava';
import type { DatabasePermission } from '../../openapi/databaserole.ts';
import { livePermissions, namedObjectsShown } from '../../storage/catalog/grants.ts';
import type { ObjectKind } from '../../storage/catalog/objectkinds.ts';
import type { Acl, LiveObject, Snapshot } from '../../storage/catalog/snapshot.ts';
import { liveDatabase, liveSchema, snapshotOf } from '../support/snapshot.ts';

type Grants = Partial<Record<ObjectKind, Record<string, string[] | 'all'>>>;

interface SchemaCase {
  acl?: Acl;
  objects?: Partial<Record<ObjectKind, LiveObject[]>>;
  /** The grants of role "app". */
  grants?: Grants;
  /** Default privileges the database owner "admin" gives "app". */
  defaults?: Partial<Record<ObjectKind, string[]>>;
}

/** Database "db" with these schemas, the grants and default privileges being role "app"'s. */
function snapshot(databaseAcl: Acl, schemas: Record<string, SchemaCase>): Snapshot {
  const live = Object.entries(schemas).map(([name, c]) =>
    liveSchema(name, {
      ...(c.acl ? { acl: c.acl } : {}),
      ...(c.objects ? { objects: c.objects } : {}),
      grants: { app: c.grants ?? {} },
      defaults: { admin: { app: c.defaults ?? {} } },
    }),
  );
  return snapshotOf({ databases: [liveDatabase('db', { acl: databaseAcl, schemas: live })] });
}

const table = (name: string, owner = 'admin'): LiveObject => ({ name, args: null, owner });
const dml = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

const cases: { name: string; snapshot: Snapshot; permissions: DatabasePermission[] }[] = [
  { name: 'no grant at all: nothing', snapshot: snapshot({}, { public: {} }), permissions: [] },
  {
    name: "the guide's role on an empty schema: '*' from the default privileges",
    snapshot: snapshot(
      { app: ['CONNECT'] },
      { public: { acl: { app: ['CREATE', 'USAGE'] }, defaults: { table: ['DELETE', 'INSERT', 'SELECT', 'UPDATE'] } } },
    ),
    permissions: [
      {
        database: 'db',
        privileges: ['CONNECT'],
        schemas: [{ name: 'public', privileges: ['USAGE', 'CREATE'], tables: [{ name: '*', privileges: dml }] }],
      },
    ],
  },
  {
    name: "every table holding the same privileges: '*' alone",
    snapshot: snapshot(
      { app: ['CONNECT'] },
      { public: { objects: { table: [table('items'), table('orders')] }, grants: { table: { SELECT: 'all', INSERT: 'all' } } } },
    ),
    permissions: [
      {
        database: 'db',
        privileges: ['CONNECT'],
        schemas: [{ name: 'public', privileges: [], tables: [{ name: '*', privileges: ['SELECT', 'INSERT'] }] }],
      },
    ],
  },
  {
    name: 'a REVOKE by hand on one table: that table named with what it still holds',
    snapshot: snapshot(
      {},
      {
        public: {
          objects: { table: [table('items'), table('orders')] },
          grants: { table: { SELECT: 'all', INSERT: 'all', UPDATE: 'all', DELETE: ['items'] } },
          defaults: { table: ['DELETE', 'INSERT', 'SELECT', 'UPDATE'] },
        },
      },
    ),
    permissions: [
      {
        database: 'db',
        privileges: [],
        schemas: [
          {
            name: 'public',
            privileges: [],
            tables: [
              { name: '*', privileges: dml },
              { name: 'orders', privileges: ['SELECT', 'INSERT', 'UPDATE'] },
            ],
          },
        ],
      },
    ],
  },
  {
    name: 'a table the role owns is left out; a function holding what no other holds is named with its arguments',
    snapshot: snapshot(
      {},
      {
        app: {
          objects: {
            table: [table('mine', 'app')],
            function: [
              { name: 'f', args: 'a integer', owner: 'admin' },
              { name: 'f', args: 'a text', owner: 'admin' },
            ],
          },
          grants: { function: { EXECUTE: ['f(a integer)'] } },
        },
      },
    ),
    permissions: [
      {
        database: 'db',
        privileges: [],
        schemas: [
          {
            name: 'app',
            privileges: [],
            functions: [{ name: 'f(a integer)', privileges: ['EXECUTE'] }],
          },
        ],
      },
    ],
  },
];

for (const c of cases) {
  test(`status.permissions: ${c.name}`, (t) => {
    t.deepEqual(livePermissions('app', ['db'], c.snapshot), { permissions: c.permissions, omitted: 0 });
  });
}

test(`status.permissions names ${namedObjectsShown} objects per schema and kind at most, and counts the others`, (t) => {
  const names = Array.from({ length: namedObjectsShown + 5 }, (_, i) => `t${String(i).padStart(2, '0')}`);
  const lacking = snapshot({}, { public: { objects: { table: names.map((n) => table(n)) }, defaults: { table: ['SELECT'] } } });
  const { permissions, omitted } = livePermissions('app', ['db'], lacking);
  t.is(omitted, 5);
  const tables = permissions[0]!.schemas![0]!.tables!;
  t.deepEqual(tables[0], { name: '*', privileges: ['SELECT'] });
  t.deepEqual(
    tables.slice(1).map((e) => e.name),
    names.slice(0, namedObjectsShown),
  );
});
