// The fast path's event triggers against real servers: a superuser installs them (once, whatever the number of
// tries) and a REVOKE by hand then notifies; an RDS-like admin is refused and nothing is left behind.
import test from 'ava';
import pg from 'pg';
import type { ServerCatalog } from '../../storage/catalog/server.ts';
import { CatalogError } from '../../storage/catalog/errors.ts';
import { connectionConfig } from '../../storage/catalog/dsn.ts';
import { driftChannel, driftDetection, planDriftTriggers, type DatabaseTriggers } from '../../storage/catalog/drifttrigger.ts';
import { converge, desired, guideDatabase, guideRole, perTarget, type Target } from '../support/catalog.ts';
import { sql } from '../support/postgres.ts';
import { planRole } from '../../storage/catalog/roles.ts';

const each = perTarget(test);

/** The guide's Database and DatabaseRole converged, with a table the role is granted. */
async function guideWithTable(target: Target) {
  const catalog = target.catalog();
  const database = guideDatabase();
  const role = desired(guideRole(database.name));
  await converge(catalog, database, [role]);
  await sql(target.dsn, 'CREATE TABLE orders (id int)', { database: database.name });
  await converge(catalog, database, [role]);
  return { catalog, database: database.name, role: role.spec.roleName };
}

/** The cluster's drift detection as its status reads it: whether the user is a superuser, and each database's triggers. */
async function detection(catalog: ServerCatalog, databases: string[]) {
  const [snapshot, triggers] = await Promise.all([catalog.snapshot({ roles: [], databases: [] }), catalog.driftTriggers(databases)]);
  return driftDetection(snapshot.superuser, triggers);
}

/** A connection LISTENing on the drift channel in `database`, collecting payloads. */
async function listen(dsn: string, database: string) {
  const client = new pg.Client(connectionConfig(dsn, database));
  await client.connect();
  const payloads: string[] = [];
  client.on('notification', (n) => payloads.push(n.payload ?? ''));
  await client.query(`LISTEN ${driftChannel}`);
  return { payloads, close: () => client.end() };
}

async function within(ms: number, check: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) if (check()) return true;
  return check();
}

each(
  'a superuser installs the triggers once; then a REVOKE by hand notifies, a temporary table does not',
  async (t, target) => {
    const { catalog, database, role } = await guideWithTable(target);
    t.like(await detection(catalog, [database]), { mode: 'Polling', reason: 'NotInstalled' });

    const present = async () => (await catalog.driftTriggers([database])).get(database) as ReadonlyMap<string, boolean>;
    await catalog.apply(planDriftTriggers(database, await present()));
    await catalog.apply(planDriftTriggers(database, new Map())); // a second install, as after a lost race, changes nothing
    t.deepEqual([...(await present())].sort(), [
      ['postgres_apiserver_drift_ddl', true],
      ['postgres_apiserver_drift_drop', true],
    ]);
    t.deepEqual(planDriftTriggers(database, await present()).statements, [], 'nothing to do once installed');
    t.like(
      await detection(catalog, [database, 'not_created_yet']),
      { mode: 'EventTrigger', reason: 'Installed' },
      'a database that does not exist is left out',
    );

    const listener = await listen(target.dsn, database);
    t.teardown(() => listener.close());
    // The server's own statements apply the spec: no pass over the whole cluster follows each of its writes.
    await catalog.apply(
      planRole(
        desired({ ...guideRole(database, role), permissions: [] }, { managedDatabases: [database] }),
        await catalog.snapshot({ roles: [role], databases: [database] }, { fresh: true }),
      ),
    );
    await sql(target.dsn, 'CREATE TEMPORARY TABLE scratch (id int); DROP TABLE scratch', { database });
    await sql(target.dsn, `REVOKE SELECT ON orders FROM "${role}"`, { database });
    t.true(await within(10_000, () => listener.payloads.length > 0));
    t.deepEqual(listener.payloads, ['REVOKE'], "neither the server's own REVOKEs nor the temporary table notified");
    await sql(target.dsn, 'DROP TABLE orders', { database });
    t.true(await within(10_000, () => listener.payloads.includes('DROP TABLE')));
  },
  ['superuser'],
);

each(
  'a database no longer managed loses the triggers, the function and the schema; once gone, nothing is left to remove',
  async (t, target) => {
    const { catalog, database } = await guideWithTable(target);
    const ours = () =>
      sql(
        target.dsn,
        `SELECT evtname AS name FROM pg_event_trigger WHERE evtname LIKE 'postgres\\_apiserver%'
         UNION ALL SELECT nspname FROM pg_namespace WHERE nspname = 'postgres_apiserver'
         UNION ALL SELECT proname FROM pg_proc WHERE proname = 'notify_drift' ORDER BY 1`,
        { database },
      );
    t.true(await catalog.installDriftTriggers(database));
    t.false(await catalog.installDriftTriggers(database), 'installed once');
    t.is((await ours()).length, 4);
    t.true(await catalog.removeDriftTriggers(database));
    t.deepEqual(await ours(), []);
    t.false(await catalog.removeDriftTriggers(database), 'nothing left to remove');
    t.false(await catalog.removeDriftTriggers('no_such_database'), 'a database that is gone is left alone');
  },
  ['superuser'],
);

each(
  'an admin that is not a superuser is refused, and nothing of the install is left behind',
  async (t, target) => {
    const { catalog, database } = await guideWithTable(target);
    const error = await t.throwsAsync(catalog.apply(planDriftTriggers(database, new Map())), { instanceOf: CatalogError });
    t.is(error.reason, 'PermissionDenied');
    t.deepEqual(
      await sql(target.server.superuserDsn, "SELECT nspname FROM pg_namespace WHERE nspname = 'postgres_apiserver'", { database }),
      [],
    );
    t.like(await detection(catalog, [database]), { mode: 'Polling', reason: 'NotPermitted' });
  },
  ['rds-admin'],
);

const both = new Map([
  ['postgres_apiserver_drift_ddl', true],
  ['postgres_apiserver_drift_drop', true],
]);
const cases: { name: string; superuser: boolean; databases: [string, DatabaseTriggers][]; expected: { mode: string; reason: string } }[] = [
  { name: 'no managed database exists yet', superuser: true, databases: [], expected: { mode: 'Polling', reason: 'NoDatabases' } },
  {
    name: 'every database has both triggers, enabled',
    superuser: false,
    databases: [
      ['a', both],
      ['b', both],
    ],
    expected: { mode: 'EventTrigger', reason: 'Installed' },
  },
  {
    name: 'a superuser, and one database without them yet',
    superuser: true,
    databases: [
      ['a', both],
      ['b', new Map()],
    ],
    expected: { mode: 'Polling', reason: 'NotInstalled' },
  },
  {
    name: 'a trigger disabled by someone',
    superuser: true,
    databases: [['a', new Map([...both, ['postgres_apiserver_drift_drop', false]])]],
    expected: { mode: 'Polling', reason: 'NotInstalled' },
  },
  {
    name: 'a database that cannot be read',
    superuser: true,
    databases: [['a', { error: 'permission denied' }]],
    expected: { mode: 'Polling', reason: 'NotInstalled' },
  },
  {
    name: 'not a superuser, and no triggers',
    superuser: false,
    databases: [['a', new Map()]],
    expected: { mode: 'Polling', reason: 'NotPermitted' },
  },
];
for (const c of cases) {
  test(`drift detection: ${c.name}`, (t) => {
    t.like(driftDetection(c.superuser, new Map(c.databases)), c.expected);
  });
}

each(
  "triggers calling an earlier release's function get the current one at the next install",
  async (t, target) => {
    const { catalog, database } = await guideWithTable(target);
    t.true(await catalog.installDriftTriggers(database));
    await sql(
      target.dsn,
      `CREATE OR REPLACE FUNCTION postgres_apiserver.notify_drift() RETURNS event_trigger LANGUAGE plpgsql
       AS $f$ BEGIN PERFORM pg_notify('${driftChannel}', TG_TAG); END $f$`,
      { database },
    );
    t.deepEqual([...((await catalog.driftTriggers([database])).get(database) as ReadonlyMap<string, boolean>)], []);
    t.true(await catalog.installDriftTriggers(database), 'installed again');
    t.false(await catalog.installDriftTriggers(database), 'then current');
    const [source] = await sql<{ src: string }>(target.dsn, `SELECT prosrc AS src FROM pg_proc WHERE proname = 'notify_drift'`, {
      database,
    });
    t.regex(source!.src, /application_name/);
  },
  ['superuser'],
);
