// The digest of the shared catalogs (storage/catalog/fingerprint.ts) against real servers: every change by hand
// that event triggers never see changes it, what is not managed leaves it alone, and a password changed by
// hand changes it only where the connecting user may read pg_authid (a superuser), not for an RDS-like admin.
import test from 'ava';
import { perTarget } from '../support/catalog.ts';
import { sql, unique } from '../support/postgres.ts';

const each = perTarget(test);

each(
  'every change by hand event triggers never see changes the digest; unmanaged ones and grants inside a database do not',
  async (t, target) => {
    const [role, group, other, database] = [unique('fp_user'), unique('fp_group'), unique('fp_other'), unique('fp_db')];
    const superuser = target.server.superuserDsn;
    await sql(superuser, `CREATE ROLE ${role} LOGIN PASSWORD 'first-password'; CREATE ROLE ${group} NOLOGIN; CREATE ROLE ${other} LOGIN`);
    await sql(superuser, `GRANT ${group} TO ${role}`);
    await sql(superuser, `CREATE DATABASE ${database}`);
    await sql(superuser, `GRANT CONNECT ON DATABASE ${database} TO ${role}`);
    await sql(superuser, 'CREATE TABLE orders (id int)', { database });

    const catalog = target.catalog();
    const scope = { roles: [role, group], databases: [database] };
    const digest = () => catalog.fingerprint(scope);
    t.regex(await digest(), /^-?\d+\/-?\d+\/-?\d+$/, 'the sums of the hashes of the roles, memberships and databases');
    t.is(await digest(), await digest(), 'the same catalog, the same digest');

    const cases: [what: string, sql: string, changes: boolean, inDatabase?: string][] = [
      ['NOLOGIN', `ALTER ROLE ${role} NOLOGIN`, true],
      ['CONNECTION LIMIT', `ALTER ROLE ${role} CONNECTION LIMIT 7`, true],
      ['VALID UNTIL', `ALTER ROLE ${role} VALID UNTIL '2031-01-01'`, true],
      ['CREATEDB', `ALTER ROLE ${role} CREATEDB`, true],
      ['a membership revoked', `REVOKE ${group} FROM ${role}`, true],
      ['a membership granted', `GRANT ${group} TO ${role}`, true],
      ...(target.server.major >= 16
        ? [
            ["a membership's INHERIT option (PostgreSQL 16+)", `GRANT ${group} TO ${role} WITH INHERIT FALSE`, true] as [
              string,
              string,
              boolean,
            ],
          ]
        : []),
      ['REVOKE CONNECT ON DATABASE', `REVOKE CONNECT ON DATABASE ${database} FROM ${role}`, true],
      ['GRANT TEMP ON DATABASE', `GRANT TEMP ON DATABASE ${database} TO ${role}`, true],
      ["the database's connection limit", `ALTER DATABASE ${database} CONNECTION LIMIT 5`, true],
      ["the database's owner", `ALTER DATABASE ${database} OWNER TO ${group}`, true],
      ['a password changed by hand', `ALTER ROLE ${role} PASSWORD 'changed-by-hand'`, target.kind === 'superuser'],
      ['an unmanaged role altered', `ALTER ROLE ${other} NOLOGIN`, false],
      ['a grant inside the database (the event triggers see it)', `GRANT SELECT ON orders TO ${role}`, false, database],
      ['the other role made a member (membership of an unmanaged role)', `GRANT ${group} TO ${other}`, false],
      ['the role dropped', `DROP OWNED BY ${role}; DROP ROLE ${role}`, true, database],
    ];
    for (const [what, statement, changes, inDatabase] of cases) {
      const before = await digest();
      await sql(superuser, statement, inDatabase ? { database: inDatabase } : {});
      if (changes) t.not(await digest(), before, what);
      else t.is(await digest(), before, what);
    }
  },
);
