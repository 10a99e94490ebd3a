// Pure planning: the exact SQL of plans, validation with field paths, and merging of grants. No I/O.
import test from 'ava';
import { planDatabase, validateDatabaseSpec } from '../../storage/catalog/databases.ts';
import { planRole, planRoleDeletion, validateRoleSpec } from '../../storage/catalog/roles.ts';
import { grantStatement, mergeGrants } from '../../storage/catalog/statements.ts';
import type { DatabaseRoleSpec } from '../../openapi/databaserole.ts';
import { desired, guideDatabase, guideRole } from '../support/catalog.ts';
import { liveDatabase, liveRole, snapshotOf } from '../support/snapshot.ts';

const snapshotWith = (databases: ReturnType<typeof liveDatabase>[] = [], major = 17) => snapshotOf({ databases, major });

test('the guide role on an existing empty database plans exactly these statements', (t) => {
  const spec = guideRole('my_app_db_production', 'my_app_user');
  const plan = planRole(desired(spec, { password: 'x' }), snapshotWith([liveDatabase('my_app_db_production')]));
  t.deepEqual(
    plan.statements.map((s) => s.sql),
    [
      'CREATE ROLE "my_app_user" WITH LOGIN INHERIT NOCREATEDB CONNECTION LIMIT -1',
      'GRANT CONNECT ON DATABASE "my_app_db_production" TO "my_app_user"',
      'GRANT USAGE, CREATE ON SCHEMA "public" TO "my_app_user"',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "admin" IN SCHEMA "public" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "my_app_user"',
    ],
  );
  t.is(plan.statements[0]!.passwordOf, 'my_app_user', 'the password clause is attached at execution');
  t.true(
    plan.statements.every((s) => !s.sql.includes('PASSWORD')),
    'no plan holds a password',
  );
  t.deepEqual(plan.pending, []);
  t.true(Object.isFrozen(plan) && Object.isFrozen(plan.statements) && Object.isFrozen(plan.statements[0]));
});

test('a role whose database does not exist yet plans the role and reports the database as pending', (t) => {
  const plan = planRole(desired(guideRole('later_db', 'app')), snapshotWith());
  t.deepEqual(
    plan.statements.map((s) => s.sql),
    ['CREATE ROLE "app" WITH LOGIN INHERIT NOCREATEDB CONNECTION LIMIT -1'],
  );
  t.deepEqual(plan.pending, ['database "later_db" does not exist yet']);
});

test('the guide database plans CREATE DATABASE outside a transaction, then its schema inside it', (t) => {
  const spec = { ...guideDatabase('my_app_db_production'), owner: 'my_app_user', schemas: ['reporting'], extensions: ['pgcrypto'] };
  const plan = planDatabase(spec, snapshotWith());
  t.deepEqual(
    plan.statements.map((s) => [s.database, s.transactional, s.sql]),
    [
      [null, false, 'CREATE DATABASE "my_app_db_production" WITH OWNER "my_app_user"'],
      ['my_app_db_production', true, 'CREATE SCHEMA IF NOT EXISTS "public" AUTHORIZATION "my_app_user"'],
      ['my_app_db_production', true, 'CREATE SCHEMA IF NOT EXISTS "reporting" AUTHORIZATION "my_app_user"'],
      ['my_app_db_production', true, 'CREATE EXTENSION IF NOT EXISTS "pgcrypto" SCHEMA "public"'],
    ],
  );
});

test('identifiers are quoted exactly, whatever they hold', (t) => {
  const name = 'We"ird; DROP ROLE x; --\\ ü';
  const plan = planRole(desired({ ...guideRole('db'), roleName: name, permissions: [] }), snapshotWith());
  t.is(plan.statements[0]!.sql, 'CREATE ROLE "We""ird; DROP ROLE x; --\\ ü" WITH LOGIN INHERIT NOCREATEDB CONNECTION LIMIT -1');
});

test('a dropped role is reassigned and dropped in every database it touched, then dropped', (t) => {
  const snapshot = snapshotWith();
  snapshot.superuser = false;
  snapshot.roles.set('app', liveRole('app', { touchedDatabases: ['a', 'b'] }));
  t.deepEqual(
    planRoleDeletion('app', snapshot).statements.map((s) => [s.database, s.sql]),
    [
      [null, 'GRANT "app" TO CURRENT_USER'],
      [null, 'REASSIGN OWNED BY "app" TO CURRENT_USER'],
      [null, 'DROP OWNED BY "app"'],
      ['a', 'REASSIGN OWNED BY "app" TO CURRENT_USER'],
      ['a', 'DROP OWNED BY "app"'],
      ['b', 'REASSIGN OWNED BY "app" TO CURRENT_USER'],
      ['b', 'DROP OWNED BY "app"'],
      [null, 'DROP ROLE "app"'],
    ],
  );
  t.deepEqual(planRoleDeletion('gone', snapshot).statements, []);
});

const invalidRoles: { name: string; spec: Partial<DatabaseRoleSpec>; major?: number; causes: [string, string][] }[] = [
  {
    name: 'an unknown table privilege',
    spec: {
      permissions: [
        { database: 'db', schemas: [{ name: 'public', privileges: ['USAGE'], tables: [{ name: '*', privileges: ['SELECT', 'DROP'] }] }] },
      ],
    },
    causes: [['FieldValueNotSupported', 'spec.permissions[0].schemas[0].tables[0].privileges[1]']],
  },
  {
    name: 'a table privilege on a schema',
    spec: { permissions: [{ database: 'db', schemas: [{ name: 'public', privileges: ['SELECT'] }] }] },
    causes: [['FieldValueNotSupported', 'spec.permissions[0].schemas[0].privileges[0]']],
  },
  {
    name: 'a database privilege that does not exist',
    spec: { permissions: [{ database: 'db', privileges: ['CONNECT', 'SUPERUSER'] }] },
    causes: [['FieldValueNotSupported', 'spec.permissions[0].privileges[1]']],
  },
  {
    name: 'MAINTAIN before PostgreSQL 17',
    spec: { permissions: [{ database: 'db', schemas: [{ name: 's', tables: [{ name: 't', privileges: ['MAINTAIN'] }] }] }] },
    major: 16,
    causes: [['FieldValueNotSupported', 'spec.permissions[0].schemas[0].tables[0].privileges[0]']],
  },
  { name: 'a role name of 64 bytes', spec: { roleName: 'a'.repeat(64) }, causes: [['FieldValueTooLong', 'spec.roleName']] },
  {
    name: 'a role name of 63 bytes of which a two-byte character crosses the limit',
    spec: { roleName: `${'a'.repeat(62)}é` },
    causes: [['FieldValueTooLong', 'spec.roleName']],
  },
  { name: 'an empty role name', spec: { roleName: '' }, causes: [['FieldValueRequired', 'spec.roleName']] },
  {
    name: 'a NUL in a schema name',
    spec: { permissions: [{ database: 'db', schemas: [{ name: 'a\0b' }] }] },
    causes: [['FieldValueInvalid', 'spec.permissions[0].schemas[0].name']],
  },
  { name: 'a reserved role name', spec: { roleName: 'pg_monitor' }, causes: [['FieldValueInvalid', 'spec.roleName']] },
  {
    name: 'the same database twice',
    spec: { permissions: [{ database: 'db' }, { database: 'db' }] },
    causes: [['FieldValueDuplicate', 'spec.permissions[1].database']],
  },
  {
    name: 'a superuser attribute',
    spec: { superuser: true } as Partial<DatabaseRoleSpec>,
    causes: [['FieldValueForbidden', 'spec.superuser']],
  },
  { name: 'a negative connection limit below -1', spec: { connectionLimit: -2 }, causes: [['FieldValueInvalid', 'spec.connectionLimit']] },
  { name: 'a validUntil that is no timestamp', spec: { validUntil: 'next tuesday' }, causes: [['FieldValueInvalid', 'spec.validUntil']] },
  { name: 'membership of itself', spec: { roleName: 'app', memberOf: ['app'] }, causes: [['FieldValueInvalid', 'spec.memberOf[0]']] },
  {
    name: 'several faults at once, all reported',
    spec: { roleName: 'x'.repeat(70), permissions: [{ database: '', privileges: ['CONNECT', 'nope'] }] },
    causes: [
      ['FieldValueTooLong', 'spec.roleName'],
      ['FieldValueRequired', 'spec.permissions[0].database'],
      ['FieldValueNotSupported', 'spec.permissions[0].privileges[1]'],
    ],
  },
];

for (const c of invalidRoles) {
  test(`validation rejects ${c.name}, naming the field`, (t) => {
    const spec = { ...guideRole('db', 'app'), ...c.spec } as DatabaseRoleSpec;
    t.deepEqual(
      validateRoleSpec(spec, c.major).map((e) => [e.type, e.field]),
      c.causes,
    );
  });
}

test('validation accepts the guide role, lower-case privileges and ALL', (t) => {
  const spec = guideRole('db');
  spec.permissions![0]!.privileges = ['connect', 'ALL'];
  t.deepEqual(validateRoleSpec(spec, 13), []);
});

test('validation of a Database names each bad field', (t) => {
  const errors = validateDatabaseSpec({ ...guideDatabase('d'.repeat(64)), schemas: ['ok', ''], encoding: "UTF8'; --" });
  t.deepEqual(
    errors.map((e) => e.field),
    ['spec.name', 'spec.schemas[1]', 'spec.encoding'],
  );
});

test('grants that differ only in grantees merge into one statement; others keep their place', (t) => {
  const grant = (role: string, privileges = ['SELECT']) =>
    grantStatement('db', { action: 'GRANT', privileges, target: 'ALL TABLES IN SCHEMA "public"', grantees: [role] });
  const merged = mergeGrants([grant('a'), grant('b', ['INSERT']), grant('c'), grant('a')]);
  t.deepEqual(
    merged.map((s) => s.sql),
    ['GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "a", "c"', 'GRANT INSERT ON ALL TABLES IN SCHEMA "public" TO "b"'],
  );
  t.is(merged[0]!.description, 'granting SELECT on ALL TABLES IN SCHEMA "public" to 2 roles');
});
