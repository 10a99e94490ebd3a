// Concurrent readers of one scope share one catalog read; a write's snapshot is fresh: it never joins a read that
// began before it (before another write's DROP committed, say), and readers after it share it.
import test from 'ava';
import { perTarget } from '../support/catalog.ts';
import { sql, unique } from '../support/postgres.ts';

const each = perTarget(test);

each('a fresh snapshot is read anew after a change, and readers that come after it share it', async (t, target) => {
  const catalog = target.catalog();
  const roleName = unique('shared');
  await sql(target.server.superuserDsn, `CREATE ROLE ${roleName}`);
  const scope = { roles: [roleName], databases: [] };
  const before = catalog.snapshot(scope);
  t.is(catalog.snapshot(scope), before, 'concurrent readers share one read');
  await sql(target.server.superuserDsn, `DROP ROLE ${roleName}`);
  const fresh = catalog.snapshot(scope, { fresh: true });
  t.not(fresh, before);
  t.is(catalog.snapshot(scope), fresh, 'a reader after it shares the fresh read');
  t.false((await fresh).roles.has(roleName), 'the fresh read sees the role dropped');
  await before;
});
