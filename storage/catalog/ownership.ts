// Which roles and databases this server created or adopted, and for which object (DESIGN.md, "What existed
// before belongs to nobody"). The record lives on the PostgreSQL server itself, in a table of a schema of its
// own in the DSN's database, owned by the connecting user, on which no managed role has any privilege: it
// survives a lost object store, and a tenant cannot rewrite it (a COMMENT could be, by a database's owner).
// The schema is the connecting user's own (postgres_apiserver_<its oid>): DatabaseClusters that connect as
// different users to one database each keep theirs, and each sees the other's roles as not its own.
// A role or database that exists and has no record is unmanaged: no object takes it over unless the
// DatabaseCluster's spec.adoption lets that namespace adopt that name.
import { matchesPattern } from '../../lib/patterns.ts';
import type { AdoptionRule } from '../../openapi/databasecluster.ts';
import { quoteIdent, quoteLiteral } from './identifiers.ts';
import { freezePlan, type Plan } from './plan.ts';
import { statement, type Statement } from './statements.ts';
import type { FieldError } from '../../openapi/fields.ts';

/**
 * The connecting user's records schema, as SQL: its name, and whether its table exists. Its oid by name
 * (to_regrole), not from the view pg_roles, which costs the reads that say it more to plan.
 */
export const ownershipSchemaSql = `'postgres_apiserver_' || to_regrole(quote_ident(current_user))::oid`;
export const ownershipPresentSql = `to_regclass(format('%I.owners', ${ownershipSchemaSql})) IS NOT NULL`;

const table = (schema: string) => `${quoteIdent(schema)}.owners`;

export type OwnedKind = 'role' | 'database';

export interface OwnerRecord {
  namespace: string;
  object: string;
  uid: string;
  /** Taken over from before (spec.adoption), rather than created by this server. */
  adopted: boolean;
}

/** The records of these names, in the records table of `schema`. */
export function ownersQuery(schema: string): string {
  return `SELECT kind, name, namespace, object, uid, adopted FROM ${table(schema)} WHERE (kind = 'role' AND name = ANY($1)) OR (kind = 'database' AND name = ANY($2))`;
}

export function recordKey(kind: OwnedKind, name: string): string {
  return `${kind}/${name}`;
}

// Created on first use by the connecting user, which needs CREATE on its DSN's database for it. PUBLIC gets no
// privilege on a new schema; the REVOKE says so to a reader. Once the table is there nothing is done: writes that
// record at once must not touch the schema's catalog row together ("tuple concurrently updated"); the first
// ones take a lock while they make it.
const ensureTable = (schema: string) => `DO $ensure$ BEGIN
  IF to_regclass(${quoteLiteral(`${quoteIdent(schema)}.owners`)}) IS NULL THEN
    PERFORM pg_advisory_xact_lock(hashtext(${quoteLiteral(schema)}));
    CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)};
    REVOKE ALL ON SCHEMA ${quoteIdent(schema)} FROM PUBLIC;
    CREATE TABLE IF NOT EXISTS ${table(schema)} (
      kind text NOT NULL CHECK (kind IN ('role', 'database')),
      name text NOT NULL,
      namespace text NOT NULL,
      object text NOT NULL,
      uid text NOT NULL,
      adopted boolean NOT NULL DEFAULT false,
      recorded_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (kind, name)
    );
  END IF;
END $ensure$`;

function recordStatements(schema: string, kind: OwnedKind, name: string, owner: OwnerRecord, tableFound: boolean): Statement[] {
  const values = [kind, name, owner.namespace, owner.object, owner.uid].map(quoteLiteral).join(', ');
  const keeping = `keeping the ownership records (schema ${quoteIdent(schema)} of the DSN's database; the connecting user needs CREATE on that database)`;
  return [
    ...(tableFound ? [] : [statement(null, ensureTable(schema), keeping)]),
    statement(
      null,
      `INSERT INTO ${table(schema)} AS owners (kind, name, namespace, object, uid, adopted) VALUES (${values}, ${owner.adopted})
ON CONFLICT (kind, name) DO UPDATE SET namespace = EXCLUDED.namespace, object = EXCLUDED.object, uid = EXCLUDED.uid, adopted = owners.adopted OR EXCLUDED.adopted, recorded_at = now()`,
      `recording that ${owner.namespace}/${owner.object} owns ${kind} ${quoteLiteral(name)}`,
    ),
  ];
}

/** What a write records: the record to write (undefined: the one there is right) in the connecting user's schema. */
export interface Recording {
  schema: string;
  record: OwnerRecord | undefined;
}

/**
 * A plan with the record's statements among its statements in the DSN's database: one transaction with them.
 * `foundIn`: the schema whose records' table the read that planned found (Snapshot.ownershipSchema); the table
 * is made first where it was not found there.
 */
export function withRecord(
  plan: Plan,
  schema: string,
  kind: OwnedKind,
  name: string,
  owner: OwnerRecord | undefined,
  foundIn: string | undefined,
): Plan {
  if (!owner) return plan;
  const firstElsewhere = plan.statements.findIndex((s) => s.database !== null);
  const at = firstElsewhere < 0 ? plan.statements.length : firstElsewhere;
  return freezePlan(
    [...plan.statements.slice(0, at), ...recordStatements(schema, kind, name, owner, foundIn === schema), ...plan.statements.slice(at)],
    [...plan.drift],
    [...plan.pending],
  );
}

/** A deletion plan that also forgets the name once what it names is dropped, where records are kept (`schema`). */
export function withoutRecord(plan: Plan, schema: string | undefined, kind: OwnedKind, name: string): Plan {
  if (plan.statements.length === 0 || schema === undefined) return plan;
  const forget = statement(
    null,
    `DELETE FROM ${table(schema)} WHERE kind = ${quoteLiteral(kind)} AND name = ${quoteLiteral(name)}`,
    `forgetting the owner of ${kind} ${quoteLiteral(name)}`,
  );
  return freezePlan([...plan.statements, forget], [...plan.drift], [...plan.pending]);
}

function adoptionRule(rules: readonly AdoptionRule[], kind: OwnedKind, name: string, namespace: string): AdoptionRule | undefined {
  return rules.find(
    (rule) =>
      rule.namespaces.some((p) => matchesPattern(p, namespace)) &&
      (kind === 'role' ? rule.roles : rule.databases)?.some((p) => matchesPattern(p, name)),
  );
}

export interface OwnershipRequest {
  kind: OwnedKind;
  name: string;
  claimant: { namespace: string; object: string; uid: string };
  /** Whether the role or database exists now. */
  exists: boolean;
  /** Whether this object already manages it (an update, a correction): objects from before records existed get one. */
  managedAlready: boolean;
  reclaimDelete: boolean;
  record: OwnerRecord | undefined;
  adoption: readonly AdoptionRule[];
}

export type OwnershipDecision =
  | { refusal: 'AlreadyExists'; message: string }
  | { refusal: 'Conflict'; message: string }
  | { refusal: 'Invalid'; error: FieldError }
  | { refusal: undefined; record: OwnerRecord | undefined };

/**
 * Whether the object may own the name, and the record to write (undefined when the one there is right). A name
 * recorded for another namespace is a Conflict; an existing name with no record is unmanaged (AlreadyExists)
 * unless adopted by rule; an adopted name keeps reclaimPolicy Retain unless the rule allows Delete.
 */
export function decideOwnership(request: OwnershipRequest): OwnershipDecision {
  const { kind, name, claimant, record } = request;
  const what = `${kind} "${name}"`;
  if (record && record.namespace !== claimant.namespace) {
    return { refusal: 'Conflict', message: `${what} belongs to ${record.namespace}/${record.object} on this PostgreSQL server` };
  }
  const mine: OwnerRecord = { ...claimant, adopted: record?.adopted ?? false };
  if (record || !request.exists || request.managedAlready) {
    const changed = !record || record.uid !== claimant.uid || record.object !== claimant.object;
    return mine.adopted ? deleteAllowed(request, mine, changed) : { refusal: undefined, record: changed ? mine : undefined };
  }
  const rule = adoptionRule(request.adoption, kind, name, claimant.namespace);
  if (!rule) {
    return {
      refusal: 'AlreadyExists',
      message: `${what} exists and no object manages it: it existed before, and belongs to nobody until the DatabaseCluster's spec.adoption lets namespace "${claimant.namespace}" adopt it`,
    };
  }
  return deleteAllowed(request, { ...mine, adopted: true }, true, rule);
}

/** An adopted name is never dropped unless its rule says allowDelete. */
function deleteAllowed(
  request: OwnershipRequest,
  record: OwnerRecord,
  changed: boolean,
  rule = adoptionRule(request.adoption, request.kind, request.name, request.claimant.namespace),
): OwnershipDecision {
  if (request.reclaimDelete && !rule?.allowDelete) {
    return {
      refusal: 'Invalid',
      error: {
        type: 'FieldValueForbidden',
        field: 'spec.reclaimPolicy',
        message: `Forbidden: ${request.kind} "${request.name}" was adopted: Delete would drop what existed before, which the DatabaseCluster's spec.adoption does not allow (allowDelete)`,
      },
    };
  }
  return { refusal: undefined, record: changed ? record : undefined };
}
