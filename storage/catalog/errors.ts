// Errors of the catalog layer: faults of an object (field errors, returned together) and faults met while
// running SQL (typed by SQLSTATE, carrying what was being done).
import type { FieldError } from '../../openapi/fields.ts';

/** Every fault of an object, found before any SQL runs. */
export class InvalidError extends Error {
  constructor(readonly causes: FieldError[]) {
    super(causes.map((c) => `${c.field}: ${c.message}`).join(', '));
    this.name = 'InvalidError';
  }
}

export function throwIfInvalid(causes: FieldError[]): void {
  if (causes.length > 0) throw new InvalidError(causes);
}

export type CatalogErrorReason =
  | 'PermissionDenied'
  | 'DatabaseNotFound'
  | 'ObjectNotFound'
  | 'ObjectInUse'
  | 'DependentObjects'
  | 'AlreadyExists'
  | 'ConcurrentUpdate'
  | 'AuthenticationFailed'
  | 'ConnectionRefused'
  | 'HostNotFound'
  | 'Timeout'
  | 'Unavailable'
  | 'SQLError'
  // Named by the statement that met the fault (Statement.faults), where the SQLSTATE alone says less.
  | 'TemplateNotFound'
  | 'ExtensionNotAvailable'
  | 'RoleNotFound'
  | 'SchemaNotFound';

/** SQLSTATE → the reason a statement's fault has, where the statement knows better than the SQLSTATE's class. */
export type FaultReasons = Readonly<Partial<Record<string, CatalogErrorReason>>>;

const reasonsBySqlstate: Record<string, CatalogErrorReason> = {
  '42501': 'PermissionDenied',
  '01007': 'PermissionDenied', // warning: no privileges were granted
  '01006': 'PermissionDenied', // warning: not all privileges were revoked
  '3D000': 'DatabaseNotFound',
  '3F000': 'ObjectNotFound',
  '42P01': 'ObjectNotFound',
  '42704': 'ObjectNotFound',
  '42883': 'ObjectNotFound',
  '55006': 'ObjectInUse',
  '2BP01': 'DependentObjects',
  '42710': 'AlreadyExists',
  '42P04': 'AlreadyExists',
  '42P06': 'AlreadyExists',
  '23505': 'AlreadyExists',
  '57014': 'Timeout', // statement_timeout
  '55P03': 'Timeout', // lock_timeout
  '40001': 'ConcurrentUpdate',
  '40P01': 'ConcurrentUpdate',
};

const reasonsBySqlstateClass: Record<string, CatalogErrorReason> = {
  '08': 'Unavailable', // connection exception
  '28': 'AuthenticationFailed', // invalid authorization specification
  '53': 'Unavailable', // insufficient resources, e.g. too many connections
  '57': 'Unavailable', // operator intervention, e.g. the server is shutting down
};

/** Why the server was not reached, by the network error's code. */
const reasonsByNetworkCode: Record<string, CatalogErrorReason> = {
  ECONNREFUSED: 'ConnectionRefused',
  ENOTFOUND: 'HostNotFound',
  EAI_AGAIN: 'HostNotFound',
  ETIMEDOUT: 'Timeout',
};

function reasonOf(sqlstate: string | undefined, message: string, networkCode: string | undefined): CatalogErrorReason {
  if (!sqlstate) return reasonsByNetworkCode[networkCode ?? ''] ?? (/timeout/i.test(message) ? 'Timeout' : 'Unavailable'); // the server was not reached
  if (sqlstate === 'XX000' && message.includes('tuple concurrently')) return 'ConcurrentUpdate';
  return reasonsBySqlstate[sqlstate] ?? reasonsBySqlstateClass[sqlstate.slice(0, 2)] ?? 'SQLError';
}

/**
 * How PostgreSQL refuses what an object asks for, whatever the server's state: a data exception (class 22: a
 * locale that does not match the encoding, an invalid connection limit), a feature it lacks (class 0A: an
 * extension that is not available), an unknown locale (42809), a reserved or invalid name (42939, 42602, 42622).
 */
const objectFaultClasses = new Set(['22', '0A']);
const objectFaultSqlstates = new Set(['42809', '42939', '42602', '42622']);

/** A fault met while talking to a PostgreSQL server. */
export class CatalogError extends Error {
  readonly reason: CatalogErrorReason;
  /** Whether statements of the plan ran before the one that failed (set by Catalog.apply). */
  planPartlyApplied = false;

  constructor(
    /** What was being done, e.g. `granting SELECT on ALL TABLES IN SCHEMA "public" to "app"`. */
    readonly doing: string,
    readonly sqlstate: string | undefined,
    serverMessage: string,
    /** The network error's code (ECONNREFUSED, ENOTFOUND, …) when the server was not reached. */
    networkCode?: string,
    reasons: FaultReasons = {},
  ) {
    super(`while ${doing}: ${serverMessage}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}`);
    this.name = 'CatalogError';
    this.reason = (sqlstate && reasons[sqlstate]) || reasonOf(sqlstate, serverMessage, networkCode);
  }

  /** A refusal of the object itself (see objectFaultSqlstates), not of the environment it met. */
  get isObjectFault(): boolean {
    return this.sqlstate !== undefined && (objectFaultClasses.has(this.sqlstate.slice(0, 2)) || objectFaultSqlstates.has(this.sqlstate));
  }

  /** Wraps an error from pg (or the network); `secrets` are removed from the server's message. */
  static from(error: unknown, doing: string, secrets: string[] = [], reasons: FaultReasons = {}): CatalogError {
    if (error instanceof CatalogError) return error;
    const { code, message } = error as { code?: string; message?: string };
    // A SQLSTATE has five characters, a digit among them; a network error's code (EPIPE) has none.
    const sqlstate = typeof code === 'string' && /^(?=.*\d)[0-9A-Z]{5}$/.test(code) ? code : undefined;
    let text = message ?? String(error);
    for (const secret of secrets) text = text.split(secret).join('<redacted>');
    return new CatalogError(doing, sqlstate, text, sqlstate === undefined && typeof code === 'string' ? code : undefined, reasons);
  }
}
