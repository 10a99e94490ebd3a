// What every plan shares: its result shape and the drift entries that status shows.
import type { Statement } from './statements.ts';

/** One difference between the spec and the live catalog (API.md `status.drift`). */
export interface Drift {
  kind: 'role' | 'membership' | 'database' | 'schema' | 'extension' | 'table' | 'sequence' | 'function' | 'default';
  database?: string;
  schema?: string;
  /** The object's name; "*" for every object of the kind in the schema; for `default`, TABLES/SEQUENCES/FUNCTIONS. */
  object: string;
  privilege?: string;
  attribute?: string;
  expected: string;
  actual: string;
}

export interface Plan {
  /** Ordered; consecutive statements for one database run in one transaction. */
  readonly statements: readonly Statement[];
  readonly drift: readonly Drift[];
  /** Why part of the spec cannot be planned yet (a database or schema that does not exist yet, …). */
  readonly pending: readonly string[];
}

export function freezePlan(statements: Statement[], drift: Drift[], pending: string[]): Plan {
  return Object.freeze({ statements: Object.freeze(statements), drift: Object.freeze(drift), pending: Object.freeze(pending) });
}
