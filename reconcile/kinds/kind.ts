// A kind of our group: the openapi/ descriptor (schema, defaults, columns) plus the
// kind's own rules (catalog validation, immutable fields) and hooks.
import type { KindDescriptor } from '../../openapi/kind.ts';
import { pruneUnknownFields, unknownFields, validate, withDefaults } from '../../openapi/validate.ts';
import type { ResourceKind, Strategy } from './resource.ts';
import { nameErrors } from '../../openapi/names.ts';
import type { KubeObject, PrinterColumn } from '../../openapi/objects.ts';
import type { FieldError } from '../../openapi/fields.ts';
import { isDeepStrictEqual } from 'node:util';
import { isObject } from '../../lib/guards.ts';
import { fixedOnceCreatedFields, immutableFields, listMapKeys } from '../../openapi/walk.ts';

export interface KindRules extends Partial<
  Pick<Strategy, 'forbidden' | 'admit' | 'reclaim' | 'deleteWarnings' | 'writeWarnings' | 'afterDelete' | 'decorate'>
> {
  /** Checks beyond the schema (identifiers in bytes, privileges per version, …), on a schema-valid spec. */
  validateSpec?(object: KubeObject): FieldError[];
}

/** The value at a dotted path (`spec.roleName`). */
function valueAt(object: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (isObject(value) ? value[key] : undefined), object);
}

/** Changes to the fields the schema marks immutable (`paths`). */
export function immutableErrors(object: KubeObject, old: KubeObject | undefined, paths: readonly string[]): FieldError[] {
  if (!old) return [];
  return paths
    .filter((path) => !isDeepStrictEqual(valueAt(object, path), valueAt(old, path)))
    .map((path) => ({
      type: 'FieldValueInvalid',
      field: path,
      message: `Invalid value: ${JSON.stringify(valueAt(object, path) ?? null)}: field is immutable`,
    }));
}

/** Whether the object existed in PostgreSQL when it was last read (status.exists). */
function existed(object: KubeObject | undefined): boolean {
  return (object?.status as { exists?: boolean } | undefined)?.exists === true;
}

export function servedKind(descriptor: KindDescriptor, rules: KindRules = {}): ResourceKind {
  const immutable = immutableFields(descriptor.schema.spec, 'spec');
  const fixed = fixedOnceCreatedFields(descriptor.schema.spec, 'spec');
  const strategy: Strategy = {
    ...(rules.forbidden ? { forbidden: rules.forbidden } : {}),
    unknownFields: (o) => unknownFields(o, descriptor),
    prune: (o) => pruneUnknownFields(o, descriptor),
    withDefaults: (o) => withDefaults(o, descriptor),
    validate: (o, old) => {
      const schemaErrors = validate(o, descriptor);
      // The kind's own checks need a spec of the right shape; a field reported twice is reported once.
      const reported = new Set(schemaErrors.map((e) => e.field));
      const specErrors = schemaErrors.length === 0 ? (rules.validateSpec?.(o) ?? []) : [];
      return [
        ...nameErrors(o.metadata.name),
        ...schemaErrors,
        ...specErrors.filter((e) => !reported.has(e.field)),
        ...immutableErrors(o, old, immutable),
        // As the last read saw it; the kind's admission checks the live catalog too.
        ...(existed(old) ? immutableErrors(o, old, fixed) : []),
      ];
    },
    ...(rules.admit ? { admit: rules.admit } : {}),
    ...(rules.reclaim ? { reclaim: rules.reclaim } : {}),
    ...(rules.deleteWarnings ? { deleteWarnings: rules.deleteWarnings } : {}),
    ...(rules.writeWarnings ? { writeWarnings: rules.writeWarnings } : {}),
    ...(rules.afterDelete ? { afterDelete: rules.afterDelete } : {}),
    ...(rules.decorate ? { decorate: rules.decorate } : {}),
  };
  return {
    group: descriptor.group,
    version: descriptor.version,
    kind: descriptor.kind,
    plural: descriptor.plural,
    singular: descriptor.singular,
    namespaced: descriptor.namespaced,
    statusSubresource: true,
    // Stored objects of the kind always have the spec the descriptor's cells read.
    columns: descriptor.columns as unknown as readonly PrinterColumn[],
    listKeys: { ...listMapKeys(descriptor.schema.spec, 'spec'), ...listMapKeys(descriptor.schema.status, 'status') },
    strategy,
  };
}
