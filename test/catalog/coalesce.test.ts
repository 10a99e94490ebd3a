// Writes that arrive together share one batch (applyCoalesced), each with its own outcome, against real servers.
import test from 'ava';
import { CatalogError } from '../../storage/catalog/errors.ts';
import { freezePlan } from '../../storage/catalog/plan.ts';
import { planRole } from '../../storage/catalog/roles.ts';
import { ServerCatalog } from '../../storage/catalog/server.ts';
import { statement } from '../../storage/catalog/statements.ts';
import { converge, desired, guideDatabase, guideRole, perTarget } from '../support/catalog.ts';
import { sql, unique } from '../support/postgres.ts';

const each = perTarget(test);

each('ten roles written at once share merged batches; the one whose SQL fails fails alone, naming its statement', async (t, target) => {
  const database = guideDatabase();
  await converge(target.catalog(), database, []);
  await sql(target.dsn, 'CREATE TABLE orders (id int)', { database: database.name });
  let batches = 0;
  const catalog = new ServerCatalog(target.dsn, { observe: (e) => void (e.kind === 'batch' && (batches += 1)) });
  t.teardown(() => catalog.close());
  const roles = Array.from({ length: 10 }, () => desired(guideRole(database.name)));
  const snapshot = await catalog.snapshot({ roles: roles.map((r) => r.spec.roleName), databases: [database.name] });
  const broken = unique('broken');
  const plans = [
    ...roles.map((r) => planRole(r, snapshot)),
    freezePlan(
      [
        statement(null, `CREATE ROLE "${broken}"`, 'creating the broken role'),
        statement(null, 'ALTER ROLE "no such role" LOGIN', 'altering a role that is not there'),
      ],
      [],
      [],
    ),
  ];
  const outcomes = await Promise.allSettled(plans.map((plan) => catalog.applyCoalesced(plan)));

  t.deepEqual(
    outcomes.slice(0, 10).map((o) => o.status),
    Array(10).fill('fulfilled'),
  );
  const failed = outcomes[10]!;
  t.is(failed.status, 'rejected');
  t.true((failed as PromiseRejectedResult).reason instanceof CatalogError);
  t.regex(String((failed as PromiseRejectedResult).reason.message), /altering a role that is not there/);
  const granted = await sql<{ ok: boolean }>(
    target.dsn,
    `SELECT bool_and(has_table_privilege(r, 'orders', 'SELECT,INSERT,UPDATE,DELETE')) AS ok FROM unnest($1::text[]) r`,
    { database: database.name, params: [roles.map((r) => r.spec.roleName)] },
  );
  t.true(granted[0]!.ok, 'every role holds its grants');
  t.deepEqual(await sql(target.dsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [broken] }), [], 'the failed plan left nothing');
  const next = await catalog.snapshot({ roles: roles.map((r) => r.spec.roleName), databases: [database.name] }, { fresh: true });
  // passwordApplied: as the write records it (an RDS-like admin cannot read a password back).
  t.deepEqual(
    roles.flatMap((r) => planRole({ ...r, passwordApplied: true }, next).statements),
    [],
    'nothing left to do',
  );
  // Alone, each role would take two batches (its role, then its database): 20 or more.
  t.true(batches < 20, `${batches} batches`);
});
