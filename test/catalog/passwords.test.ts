// Passwords against real servers that log every statement: the role logs in with its password, a wrong one
// fails, a changed one replaces it, and the plaintext never reaches the server's log or ours.
import { readFileSync } from 'node:fs';
import test from 'ava';
import type pg from 'pg';
import type { StatementLog } from '../../storage/catalog/server.ts';
import { converge, desired, guideDatabase, guideRole, perTarget, planAll, passwordsOf } from '../support/catalog.ts';
import { asUser, sql } from '../support/postgres.ts';
import type { Target } from '../support/catalog.ts';

const each = perTarget(test, { log_statement: 'all' });

async function canLogIn(target: Target, role: string, password: string, database: string): Promise<boolean | string> {
  try {
    await sql(asUser(target.dsn, role, password), 'SELECT 1', { database });
    return true;
  } catch (error) {
    return (error as pg.DatabaseError).code === '28P01' ? false : String(error);
  }
}

const passwords = ['correct horse battery staple', 'it\'s a "quoted" \\ pass; word', 'pässwörd ünïcode 密码'];

each('a role logs in with its password, not with a wrong one, and the plaintext is never logged', async (t, target) => {
  const logged: Parameters<StatementLog>[0][] = [];
  const catalog = target.catalog((entry) => logged.push(entry));
  const database = guideDatabase();
  const roles = passwords.map((password) => desired(guideRole(database.name), { password }));
  await converge(catalog, database, roles);
  for (const role of roles) {
    t.true(await canLogIn(target, role.spec.roleName, role.password!, database.name), `${role.spec.roleName} logs in`);
    t.false(await canLogIn(target, role.spec.roleName, `${role.password}x`, database.name));
  }
  const serverLog = readFileSync(target.server.logFile!, 'utf8');
  t.true(serverLog.includes(`CREATE ROLE "${roles[0]!.spec.roleName}"`), 'the server logs statements');
  t.true(serverLog.includes('SCRAM-SHA-256$4096:'), 'what reached the server is a verifier');
  const ourLog = JSON.stringify(logged);
  t.true(ourLog.includes('PASSWORD <redacted>'));
  for (const password of passwords) {
    t.false(serverLog.includes(password), 'no plaintext in the server log');
    t.false(ourLog.includes(password), 'no plaintext in our statement log');
  }
  t.false(ourLog.includes('SCRAM-SHA-256'), 'no verifier in our statement log');
});

each('a changed password replaces the old one', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const role = desired(guideRole(database.name), { password: 'first-password' });
  await converge(catalog, database, [role]);
  // The Secret changed: a new version, not applied yet.
  const rotated = { ...role, password: 'second-password', passwordApplied: false };
  const {
    roles: [plan],
  } = await planAll(catalog, database, [rotated]);
  t.deepEqual(plan!.drift, [
    { kind: 'role', object: role.spec.roleName, attribute: 'password', expected: 'from the Secret', actual: 'different' },
  ]);
  t.deepEqual(
    plan!.statements.map((s) => s.sql),
    [`ALTER ROLE "${role.spec.roleName}"`],
  );
  await catalog.apply(plan!, passwordsOf(rotated));
  t.true(await canLogIn(target, role.spec.roleName, 'second-password', database.name));
  t.false(await canLogIn(target, role.spec.roleName, 'first-password', database.name));
});

each('a superuser sees a password changed by hand as drift; an admin that cannot read it relies on what it applied', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const role = desired(guideRole(database.name), { password: 'kept-password' });
  await converge(catalog, database, [role]);
  await sql(target.server.superuserDsn, `ALTER ROLE "${role.spec.roleName}" PASSWORD 'changed-by-hand'`);
  const {
    roles: [plan],
  } = await planAll(catalog, database, [role]);
  t.is(
    plan!.drift.some((d) => d.attribute === 'password'),
    target.kind === 'superuser',
  );
});

each('a role without a password has none, and a password set by hand is removed', async (t, target) => {
  const catalog = target.catalog();
  const database = guideDatabase();
  const role = desired(guideRole(database.name), { password: null });
  await converge(catalog, database, [role]);
  await sql(target.server.superuserDsn, `ALTER ROLE "${role.spec.roleName}" PASSWORD 'set-by-hand'`);
  const {
    roles: [plan],
  } = await planAll(catalog, database, [{ ...role, passwordApplied: false }]);
  await catalog.apply(plan!, passwordsOf(role));
  t.false(await canLogIn(target, role.spec.roleName, 'set-by-hand', database.name));
});
