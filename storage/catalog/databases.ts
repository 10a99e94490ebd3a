// Database in the catalog: validation of the spec, the plan that creates the database and ensures its schemas
// and extensions, and the plan that drops it. All pure.
import type { DatabaseSpec } from '../../openapi/database.ts';
import { throwIfInvalid } from './errors.ts';
import { identifierError, quoteIdent, quoteLiteral } from './identifiers.ts';
import { freezePlan, type Drift, type Plan } from './plan.ts';
import type { LiveDatabase, Snapshot } from './snapshot.ts';
import { statement, type Statement } from './statements.ts';
import type { FieldError } from '../../openapi/fields.ts';

const immutableSettings = [
  ['encoding', 'encoding', 'ENCODING'],
  ['lcCollate', 'collate', 'LC_COLLATE'],
  ['lcCtype', 'ctype', 'LC_CTYPE'],
] as const;

export function validateDatabaseSpec(spec: DatabaseSpec): FieldError[] {
  const errors: FieldError[] = [];
  const check = (value: unknown, field: string) => {
    const error = identifierError(value, field);
    if (error) errors.push(error);
  };
  check(spec.name, 'spec.name');
  if (spec.schema !== undefined) check(spec.schema, 'spec.schema');
  if (spec.owner !== undefined) check(spec.owner, 'spec.owner');
  if (spec.template !== undefined) check(spec.template, 'spec.template');
  (spec.schemas ?? []).forEach((s, i) => check(s, `spec.schemas[${i}]`));
  (spec.extensions ?? []).forEach((e, i) => check(e, `spec.extensions[${i}]`));
  for (const [field] of immutableSettings) {
    const value = spec[field];
    if (value !== undefined && !/^[A-Za-z0-9_.@-]{1,63}$/.test(value)) {
      errors.push({
        type: 'FieldValueInvalid',
        field: `spec.${field}`,
        message: `Invalid value: ${JSON.stringify(value)}: not an encoding or locale name`,
      });
    }
  }
  if (spec.connectionLimit !== undefined && !(Number.isInteger(spec.connectionLimit) && spec.connectionLimit >= -1)) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.connectionLimit',
      message: 'Invalid value: must be an integer, -1 for no limit',
    });
  }
  return errors;
}

/** PostgreSQL 15+ says 0A000 for an extension it does not have; 13 and 14 fail to open its control file (58P01). */
const extensionFaults = { '0A000': 'ExtensionNotAvailable', '58P01': 'ExtensionNotAvailable' } as const;

/** The schemas a Database ensures: `schema` (default public) first, then `schemas`. */
export function desiredSchemas(spec: DatabaseSpec): string[] {
  return [...new Set([spec.schema ?? 'public', ...(spec.schemas ?? [])])];
}

function createDatabase(spec: DatabaseSpec): Statement {
  const db = quoteIdent(spec.name);
  const options = [
    ...(spec.owner ? [`OWNER ${quoteIdent(spec.owner)}`] : []),
    ...(spec.template ? [`TEMPLATE ${quoteIdent(spec.template)}`] : []),
    ...immutableSettings.flatMap(([field, , keyword]) => (spec[field] ? [`${keyword} ${quoteLiteral(spec[field])}`] : [])),
    ...(spec.connectionLimit !== undefined ? [`CONNECTION LIMIT ${spec.connectionLimit}`] : []),
  ];
  const sql = options.length > 0 ? `CREATE DATABASE ${db} WITH ${options.join(' ')}` : `CREATE DATABASE ${db}`;
  // The only database a CREATE DATABASE names besides its own is its template.
  return statement(null, sql, `creating database ${db}`, {
    transactional: false,
    creates: 'database',
    faults: { '3D000': 'TemplateNotFound' },
  });
}

function alterDatabase(spec: DatabaseSpec, live: LiveDatabase, drift: Drift[]): Statement[] {
  const db = quoteIdent(spec.name);
  const statements: Statement[] = [];
  const where = { kind: 'database' as const, object: spec.name };
  if (spec.owner && spec.owner !== live.owner) {
    drift.push({ ...where, attribute: 'owner', expected: spec.owner, actual: live.owner });
    statements.push(statement(null, `ALTER DATABASE ${db} OWNER TO ${quoteIdent(spec.owner)}`, `changing the owner of database ${db}`));
  }
  const limit = spec.connectionLimit ?? -1;
  if (limit !== live.connectionLimit) {
    drift.push({ ...where, attribute: 'connectionLimit', expected: String(limit), actual: String(live.connectionLimit) });
    statements.push(statement(null, `ALTER DATABASE ${db} CONNECTION LIMIT ${limit}`, `changing the connection limit of database ${db}`));
  }
  for (const [field, liveField] of immutableSettings) {
    const want = spec[field];
    // Fixed at creation: reported, never changed.
    if (want && live[liveField] !== null && want.toLowerCase() !== live[liveField]!.toLowerCase()) {
      drift.push({ ...where, attribute: field, expected: want, actual: live[liveField]! });
    }
  }
  return statements;
}

/** Schemas and extensions inside the database; without a readable live view, all are ensured (IF NOT EXISTS). */
function planContents(spec: DatabaseSpec, live: LiveDatabase | undefined, drift: Drift[], pending: string[]): Statement[] {
  if (live && 'error' in live.contents) {
    pending.push(`cannot read database ${quoteIdent(spec.name)}: ${live.contents.error}`);
    return [];
  }
  const contents = live?.contents as Exclude<LiveDatabase['contents'], { error: string }> | undefined;
  const statements: Statement[] = [];
  const authorization = spec.owner ? ` AUTHORIZATION ${quoteIdent(spec.owner)}` : '';
  for (const schema of desiredSchemas(spec)) {
    if (contents?.schemas.has(schema)) continue;
    if (contents) drift.push({ kind: 'schema', database: spec.name, object: schema, expected: 'present', actual: 'absent' });
    statements.push(
      statement(
        spec.name,
        `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}${authorization}`,
        `creating schema ${quoteIdent(schema)} in database ${quoteIdent(spec.name)}`,
      ),
    );
  }
  const extensionSchema = quoteIdent(spec.schema ?? 'public');
  for (const extension of spec.extensions ?? []) {
    if (contents?.extensions.has(extension)) continue;
    if (contents) drift.push({ kind: 'extension', database: spec.name, object: extension, expected: 'present', actual: 'absent' });
    statements.push(
      statement(
        spec.name,
        `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(extension)} SCHEMA ${extensionSchema}`,
        `creating extension ${quoteIdent(extension)} in database ${quoteIdent(spec.name)}`,
        // One extension the server cannot install blocks neither the schemas nor the other extensions.
        { isolated: true, faults: extensionFaults },
      ),
    );
  }
  return statements;
}

export function planDatabase(spec: DatabaseSpec, snapshot: Snapshot): Plan {
  throwIfInvalid(validateDatabaseSpec(spec));
  const drift: Drift[] = [];
  const pending: string[] = [];
  const live = snapshot.databases.get(spec.name);
  const statements: Statement[] = [];
  if (live) {
    statements.push(...alterDatabase(spec, live, drift));
  } else {
    drift.push({ kind: 'database', object: spec.name, expected: 'present', actual: 'absent' });
    statements.push(createDatabase(spec));
  }
  statements.push(...planContents(spec, live, drift, pending));
  return freezePlan(statements, drift, pending);
}

/** reclaimPolicy Delete: sessions are terminated by FORCE (PostgreSQL 13+), then the database goes. */
export function planDatabaseDeletion(name: string, snapshot: Snapshot): Plan {
  if (!snapshot.databases.has(name)) return freezePlan([], [], []);
  const db = quoteIdent(name);
  return freezePlan(
    [statement(null, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`, `dropping database ${db}`, { transactional: false })],
    [{ kind: 'database', object: name, expected: 'absent', actual: 'present' }],
    [],
  );
}
