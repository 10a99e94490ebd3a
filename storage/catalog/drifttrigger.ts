// The fast path of drift detection: in every managed database, two event triggers call one function that
// NOTIFYs the reconciler of statements that may make drift, so that it reacts within a second instead of at
// the next resync. PostgreSQL 13 to 18 let only superusers create event triggers; without them the resync
// alone finds drift inside the databases. What event triggers never see: ALTER ROLE, DROP ROLE, GRANT/REVOKE
// on a database (a shared object), DROP DATABASE and anything in an unmanaged database; a digest of the shared
// catalogs read twice a second finds the first four (fingerprint.ts). The write that creates a database installs
// them at once; a database no longer managed has them removed (planDriftTriggersRemoval).
import { qualified, quoteIdent, quoteLiteral } from './identifiers.ts';
import { freezePlan, type Plan } from './plan.ts';
import type { Queryable } from './snapshot.ts';
import { statement } from './statements.ts';
import { objectKindDescriptors, objectKinds } from './objectkinds.ts';

// A schema of our own. Not public: it belongs to the database's users (a DatabaseRole's `functions: *` would
// cover our function there, and DROP SCHEMA public CASCADE would take the triggers along); pg_catalog is not
// for user objects.
const schema = 'postgres_apiserver';
const notifyFunction = qualified(schema, 'notify_drift');
/** The channel the function notifies, with the command tag as payload. */
export const driftChannel = 'postgres_apiserver_drift';

/** ddl_command_end for the statements that grant, revoke or make objects a "*" covers; sql_drop for every drop. */
const triggerNames = ['postgres_apiserver_drift_ddl', 'postgres_apiserver_drift_drop'] as const;
const ddlTags = [
  'GRANT',
  'REVOKE',
  'ALTER DEFAULT PRIVILEGES',
  'CREATE SCHEMA',
  ...objectKinds.flatMap((kind) => objectKindDescriptors[kind].createdBy),
];
const triggerEvents: Record<(typeof triggerNames)[number], string> = {
  postgres_apiserver_drift_ddl: `ddl_command_end WHEN TAG IN (${ddlTags.map(quoteLiteral).join(', ')})`,
  postgres_apiserver_drift_drop: 'sql_drop',
};

// An advisory lock taken while installing, so that two installs in one database never collide.
const installLockKey = 0x70675f647269667an;

/**
 * The application_name of this server's catalog sessions. What they run is the spec being applied, not drift:
 * it notifies nothing, or every write would be followed by a pass over the whole cluster. (A session that takes
 * this name by hand is not watched at once; the resync still compares what it did.)
 */
export const catalogApplicationName = 'postgres-apiserver';

// Temporary objects come and go with sessions and never carry managed privileges: they notify nothing (commands
// name their schema pg_temp). bool_and over no rows, or of NULL (a GRANT names no schema), is NULL: those notify.
const functionBody = `
DECLARE
  temporary boolean;
BEGIN
  IF pg_catalog.current_setting('application_name') = ${quoteLiteral(catalogApplicationName)} THEN
    RETURN;
  END IF;
  IF TG_EVENT = 'sql_drop' THEN
    temporary := (SELECT bool_and(is_temporary) FROM pg_catalog.pg_event_trigger_dropped_objects());
  ELSE
    temporary := (SELECT bool_and(schema_name = 'pg_temp') FROM pg_catalog.pg_event_trigger_ddl_commands());
  END IF;
  IF temporary THEN
    RETURN;
  END IF;
  PERFORM pg_catalog.pg_notify(${quoteLiteral(driftChannel)}, TG_TAG);
END`;
/** The function's source as pg_proc.prosrc keeps it. */
const functionSource = `${functionBody}\n`;

/**
 * Our event triggers present in the database, by name: whether each is enabled. Triggers calling a function of
 * an earlier release count as missing, so that the install replaces the function.
 */
export async function readDriftTriggers(db: Queryable): Promise<Map<string, boolean>> {
  const { rows } = await db.query<{ name: string; enabled: boolean }>(
    `SELECT evtname AS name, evtenabled <> 'D' AS enabled FROM pg_catalog.pg_event_trigger
     WHERE evtname = ANY($1) AND EXISTS (SELECT FROM pg_catalog.pg_proc WHERE oid = pg_catalog.to_regprocedure($2) AND prosrc = $3)`,
    [triggerNames, `${notifyFunction}()`, functionSource],
  );
  return new Map(rows.map((r) => [r.name, r.enabled]));
}

/** The advisory lock that serializes installs and removals in one database, for the length of their transaction. */
function installLock(database: string) {
  return statement(
    database,
    `SELECT pg_catalog.pg_advisory_xact_lock(${installLockKey})`,
    `waiting for other installs of the event triggers in database ${quoteIdent(database)}`,
  );
}

/**
 * What installs the triggers in `database`, in one transaction: nothing when both exist (a disabled one stays
 * disabled: someone chose so). Safe to repeat; it only creates what is ours and replaces only our function.
 */
export function planDriftTriggers(database: string, present: ReadonlyMap<string, boolean>): Plan {
  if (triggerNames.every((name) => present.has(name))) return freezePlan([], [], []);
  const where = `in database ${quoteIdent(database)}`;
  return freezePlan(
    [
      installLock(database),
      statement(database, `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`, `creating schema ${quoteIdent(schema)} ${where}`),
      statement(
        database,
        `CREATE OR REPLACE FUNCTION ${notifyFunction}() RETURNS event_trigger LANGUAGE plpgsql AS $function$${functionSource}$function$`,
        `creating function ${notifyFunction} ${where}`,
      ),
      ...triggerNames.map((name) =>
        statement(
          database,
          `DO $do$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtname = ${quoteLiteral(name)}) THEN
    CREATE EVENT TRIGGER ${quoteIdent(name)} ON ${triggerEvents[name]} EXECUTE FUNCTION ${notifyFunction}();
  END IF;
END $do$`,
          `creating event trigger ${quoteIdent(name)} ${where}`,
        ),
      ),
    ],
    [],
    [],
  );
}

/** Whether anything of ours is in the database: one of the triggers, or the schema (which holds the function). */
export async function driftInstallPresent(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(
    `SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtname = ANY($1))
         OR EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $2) AS present`,
    [triggerNames, schema],
  );
  return rows[0]?.present === true;
}

/**
 * What removes everything the install made from a database no longer managed, in one transaction: the
 * triggers first (so the drops that follow notify nobody), then the function and the schema. The schema is
 * dropped without CASCADE: something someone else put in it is not ours to take, and the drop then fails.
 */
export function planDriftTriggersRemoval(database: string): Plan {
  const where = `in database ${quoteIdent(database)}`;
  return freezePlan(
    [
      installLock(database),
      ...triggerNames.map((name) =>
        statement(database, `DROP EVENT TRIGGER IF EXISTS ${quoteIdent(name)}`, `dropping event trigger ${quoteIdent(name)} ${where}`),
      ),
      statement(database, `DROP FUNCTION IF EXISTS ${notifyFunction}()`, `dropping function ${notifyFunction} ${where}`),
      statement(database, `DROP SCHEMA IF EXISTS ${quoteIdent(schema)}`, `dropping schema ${quoteIdent(schema)} ${where}`),
    ],
    [],
    [],
  );
}

export interface DriftDetection {
  mode: 'EventTrigger' | 'Polling';
  reason: 'Installed' | 'NoDatabases' | 'NotPermitted' | 'NotInstalled';
  message: string;
}

const resync = 'drift is found at each resync (spec.resyncInterval)';

/** What the digest read twice a second (fingerprint.ts) finds, whatever the triggers: it needs no superuser, but passwords do. */
function digest(superuser: boolean): string {
  return superuser
    ? "roles' attributes, passwords and memberships and privileges on databases are found within seconds by a digest read twice a second"
    : "roles' attributes and memberships and privileges on databases are found within seconds by a digest read twice a second (a password changed by hand is not: only a superuser may read pg_authid)";
}

function polling(reason: DriftDetection['reason'], why: string, superuser: boolean): DriftDetection {
  return { mode: 'Polling', reason, message: `${why}: in the databases ${resync}; ${digest(superuser)}` };
}

/** Our event triggers in one database (name → enabled), or why they could not be read. */
export type DatabaseTriggers = ReadonlyMap<string, boolean> | { error: string };

function notifies(triggers: DatabaseTriggers): boolean {
  return !('error' in triggers) && triggerNames.every((name) => triggers.get(name) === true);
}

/**
 * A listener holds a connection to its database for as long as it listens: at most this many databases of a
 * cluster get one (the first by name), so that many databases cannot use up the server's max_connections.
 * The others are compared at each resync.
 */
export const maxListenedDatabases = 20;

/**
 * The managed databases that get a listener: as many as the cap allows and half the cluster's connection budget
 * (spec.connectionBudget): the other half serves requests and the loop, which read every managed database.
 */
export function listenedDatabases(databases: readonly string[], connectionBudget: number): string[] {
  return [...databases].sort().slice(0, Math.min(maxListenedDatabases, Math.floor(connectionBudget / 2)));
}

/**
 * How drift is noticed on a cluster, from the triggers of each listened database that exists; `unlistened`
 * managed databases beyond the cap are compared at each resync only.
 */
export function driftDetection(superuser: boolean, byDatabase: ReadonlyMap<string, DatabaseTriggers>, unlistened = 0): DriftDetection {
  if (byDatabase.size === 0) return polling('NoDatabases', 'no managed database exists yet', superuser);
  const silent = [...byDatabase]
    .filter(([, triggers]) => !notifies(triggers))
    .map(([name]) => quoteIdent(name))
    .join(', ');
  if (!silent) {
    return {
      mode: 'EventTrigger',
      reason: 'Installed',
      message: `event triggers in ${byDatabase.size} managed database(s) report GRANT, REVOKE, ALTER DEFAULT PRIVILEGES, CREATE and DROP within a second; ${digest(superuser)}; ${resync} for the rest${unlistened > 0 ? `; ${unlistened} more managed database(s) get no listener (each holds a connection: at most ${maxListenedDatabases} per cluster, and half of spec.connectionBudget) and are compared at each resync only (status.pollingDatabases)` : ''}`,
    };
  }
  if (!superuser)
    return polling(
      'NotPermitted',
      `only a superuser may create event triggers, and the connecting user is not one (none in database(s) ${silent})`,
      superuser,
    );
  return polling(
    'NotInstalled',
    `the event triggers are missing, disabled or unreadable in database(s) ${silent} (missing ones are installed at the next pass)`,
    superuser,
  );
}
