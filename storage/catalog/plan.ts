// What every plan shares: its result shape and the drift entries that status shows.
import type { DriftEntry } from '../../openapi/common.ts';
import type { Statement } from './statements.ts';

/** One difference between the spec and the live catalog: the shape `status.drift` shows (openapi/). */
export type Drift = DriftEntry;

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
