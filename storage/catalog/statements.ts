// A plan is a list of frozen statements: built by pure functions, executed elsewhere. GRANT and REVOKE keep
// their shape so that the same change for many roles can be merged into one statement naming all grantees.
import type { FaultReasons } from './errors.ts';
import { quoteIdent } from './identifiers.ts';

export interface Grant {
  readonly action: 'GRANT' | 'REVOKE';
  /** Concrete privileges in a stable order. */
  readonly privileges: readonly string[];
  /** The rendered target, e.g. `ALL TABLES IN SCHEMA "public"` or `DATABASE "app"`. */
  readonly target: string;
  /** For default privileges: `ALTER DEFAULT PRIVILEGES FOR ROLE "owner" IN SCHEMA "public"`. */
  readonly defaults?: string;
  readonly grantees: readonly string[];
}

export interface Statement {
  /** The database to run in; null for the cluster's maintenance database (roles, CREATE/DROP DATABASE). */
  readonly database: string | null;
  readonly sql: string;
  /** What the statement does, for logs, Events and errors ("while <description>: ..."). */
  readonly description: string;
  /** False for statements PostgreSQL refuses inside a transaction block (CREATE/DROP DATABASE). */
  readonly transactional: boolean;
  /** The role whose password clause is attached when the statement runs; the plan never holds a secret. */
  readonly passwordOf?: string;
  readonly grant?: Grant;
  /** What the statement makes that later statements may need (a dry run, which keeps nothing, knows so). */
  readonly creates?: 'role' | 'database';
  /** Runs in a transaction of its own, and its failure does not stop the statements after it (one extension of many). */
  readonly isolated?: boolean;
  /** The reason its faults have, by SQLSTATE, where the statement says more than the SQLSTATE (TemplateNotFound). */
  readonly faults?: FaultReasons;
}

export interface StatementOptions {
  transactional?: boolean;
  passwordOf?: string;
  creates?: 'role' | 'database';
  isolated?: boolean;
  faults?: FaultReasons;
}

export function statement(database: string | null, sql: string, description: string, options: StatementOptions = {}): Statement {
  return Object.freeze({
    database,
    sql,
    description,
    transactional: options.transactional ?? true,
    ...(options.passwordOf ? { passwordOf: options.passwordOf } : {}),
    ...(options.creates ? { creates: options.creates } : {}),
    ...(options.isolated ? { isolated: true } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
  });
}

function renderGrant(g: Grant): string {
  const preposition = g.action === 'GRANT' ? 'TO' : 'FROM';
  const body = `${g.action} ${g.privileges.join(', ')} ON ${g.target} ${preposition} ${g.grantees.map(quoteIdent).join(', ')}`;
  return g.defaults ? `${g.defaults} ${body}` : body;
}

function describeGrant(g: Grant): string {
  const who = g.grantees.length === 1 ? quoteIdent(g.grantees[0]!) : `${g.grantees.length} roles`;
  const what = `${g.privileges.join(', ')} on ${g.defaults ? `future objects (${g.defaults.replace('ALTER DEFAULT PRIVILEGES ', '')} ${g.target})` : g.target}`;
  return g.action === 'GRANT' ? `granting ${what} to ${who}` : `revoking ${what} from ${who}`;
}

export function grantStatement(database: string, grant: Grant): Statement {
  const frozen = Object.freeze({
    ...grant,
    privileges: Object.freeze([...grant.privileges]),
    grantees: Object.freeze([...grant.grantees]),
  });
  return Object.freeze({ database, sql: renderGrant(frozen), description: describeGrant(frozen), transactional: true, grant: frozen });
}

/**
 * Merges GRANT/REVOKE statements that differ only in their grantees into one statement naming them all
 * (PostgreSQL rewrites an object's ACL once instead of once per role). Others keep their place.
 */
export function mergeGrants(statements: readonly Statement[]): Statement[] {
  const merged: Statement[] = [];
  const byShape = new Map<string, { index: number; grantees: string[] }>();
  for (const s of statements) {
    if (!s.grant) {
      merged.push(s);
      continue;
    }
    const { grantees, ...shape } = s.grant;
    const key = JSON.stringify([s.database, shape]);
    const existing = byShape.get(key);
    if (existing) {
      for (const g of grantees) if (!existing.grantees.includes(g)) existing.grantees.push(g);
      continue;
    }
    byShape.set(key, { index: merged.length, grantees: [...grantees] });
    merged.push(s);
  }
  for (const { index, grantees } of byShape.values()) {
    const s = merged[index]!;
    if (grantees.length > s.grant!.grantees.length) merged[index] = grantStatement(s.database!, { ...s.grant!, grantees });
  }
  return merged;
}
