// Snapshots are live: a reader is answered by a read that began at its call or later, never by one that began
// before it (before another write's DROP committed, say); readers who come while a read runs share the next
// (flights.test.ts).
import test from 'ava';
import { perTarget } from '../support/catalog.ts';
import { sql, unique } from '../support/postgres.ts';

const each = perTarget(test);

each('a reader who comes while a read runs sees what was dropped before it came', async (t, target) => {
  const catalog = target.catalog();
  const roleName = unique('shared');
  await sql(target.server.superuserDsn, `CREATE ROLE ${roleName}`);
  const scope = { roles: [roleName], databases: [] };
  const before = catalog.snapshot(scope);
  await sql(target.server.superuserDsn, `DROP ROLE ${roleName}`);
  const after = catalog.snapshot(scope);
  t.not(after, before);
  t.false((await after).roles.has(roleName), 'the read after the DROP does not see the role');
  await before;
});

each('a fresh snapshot is read at once, beside a running read, and sees a change made just before', async (t, target) => {
  const catalog = target.catalog();
  const roleName = unique('fresh');
  await sql(target.server.superuserDsn, `CREATE ROLE ${roleName}`);
  const scope = { roles: [roleName], databases: [] };
  const before = catalog.snapshot(scope);
  await sql(target.server.superuserDsn, `DROP ROLE ${roleName}`);
  const fresh = catalog.snapshot(scope, { fresh: true });
  t.not(fresh, before);
  t.false((await fresh).roles.has(roleName));
  await before;
});
