// Fields more than one kind has: references, PostgreSQL identifiers, conditions, drift, reclaimPolicy.
import { condition, labelSelector, timestamp } from './meta.ts';
import { array, integer, object, refersTo, text, type Static } from './schema.ts';

const driftKinds = ['role', 'membership', 'database', 'schema', 'extension', 'table', 'sequence', 'function', 'default'] as const;

/** PostgreSQL identifiers have at most 63 bytes, so at most 63 characters; the catalog checks the bytes. */
export function identifier(description: string) {
  return text(description, { minLength: 1, maxLength: 63 });
}

export function identifiers(description: string) {
  return array(description, identifier('A PostgreSQL identifier.'));
}

/** The name of a Kubernetes object (a DNS subdomain: Secrets, DatabaseClusters). */
export function objectName(description: string) {
  return text(description, { minLength: 1, maxLength: 253 });
}

export const databaseClusterRef = object(
  'The DatabaseCluster (the PostgreSQL server) this object lives on.',
  {
    name: objectName('The name of the DatabaseCluster.'),
  },
  ['name'],
);

export function selector(description: string) {
  return { ...refersTo(labelSelector), description };
}

export function conditions(description: string) {
  return array(description, refersTo(condition));
}

export const observedGeneration = integer('The metadata.generation the status was computed for.', { format: 'int64', minimum: 0 });

export const reclaimPolicy = text(
  'What deleting this object does in PostgreSQL: Retain stops managing and drops nothing; Delete drops it.',
  {
    enum: ['Retain', 'Delete'],
    default: 'Retain',
  },
);

export const drift = array(
  'What the live catalog has that the spec does not, and the reverse; one entry per difference.',
  object(
    'One difference between the spec and the live catalog.',
    {
      kind: text('What differs.', { enum: driftKinds }),
      database: text('The database, for anything inside one.'),
      schema: text('The schema, for anything inside one.'),
      object: text('The name of the object; "*" for every object of the kind in the schema.'),
      privilege: text('The privilege that differs, for grants.'),
      attribute: text('The attribute that differs, for roles and databases (e.g. connectionLimit).'),
      expected: text('What the spec asks for.'),
      actual: text('What the live catalog has.'),
    },
    ['kind', 'object', 'expected', 'actual'],
  ),
);

/** Go durations as Kubernetes writes them: 30s, 5m, 1h30m, 1.5h. */
export const durationPattern = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;

const unitMilliseconds: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a duration that matched `durationPattern`. */
export function durationMilliseconds(duration: string): number {
  let total = 0;
  for (const [, amount, , unit] of duration.matchAll(/([0-9]+(\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(amount) * unitMilliseconds[unit!]!;
  return total;
}

/** metav1.Condition */
export type Condition = Static<typeof condition.schema>;
/** metav1.LabelSelector */
export type LabelSelector = Static<typeof labelSelector.schema>;
/** One difference between the spec and the live catalog (`status.drift`). */
export type DriftEntry = Static<typeof drift>[number];
export type ReclaimPolicy = Static<typeof reclaimPolicy>;

export const lastReconcileTime = timestamp(
  'When this server last ran SQL to make the catalog match the spec (a create or update, or a correction by the reconciler), whether it succeeded or not.',
);

export const lastWriteError = object(
  'The fault the last write met, kept until a write succeeds: while the catalog differs from the spec, the False conditions show its reason and message. Never holds a secret.',
  {
    reason: text(
      'The class of the fault, in CamelCase: TemplateNotFound, ExtensionNotAvailable, PermissionDenied, ConnectionRefused, AuthenticationFailed, Timeout, …',
    ),
    message: text('What PostgreSQL or the network said, with the statement that met it.'),
    time: timestamp('When the write met it.'),
  },
  ['reason', 'message', 'time'],
);

export type WriteError = Static<typeof lastWriteError>;
