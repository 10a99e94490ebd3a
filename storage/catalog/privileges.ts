// Privileges come from an allow-list per kind of object; ALL expands for the server's version, so specs and
// live ACLs compare as sets and never show a perpetual difference.
import type { FieldError } from '../../openapi/fields.ts';
import { byObjectKind, objectKindDescriptors, type ObjectKind } from './objectkinds.ts';
import { getOrAdd } from '../../lib/maps.ts';

export type PrivilegeTarget = 'database' | 'schema' | ObjectKind;

const allowed: Record<PrivilegeTarget, readonly string[]> = {
  database: ['CONNECT', 'CREATE', 'TEMPORARY'],
  schema: ['USAGE', 'CREATE'],
  ...byObjectKind((kind) => objectKindDescriptors[kind].privileges),
};

/** The first major version that has the privilege on this kind of object (0: every supported one). */
function sinceOf(target: PrivilegeTarget, privilege: string): number {
  return target === 'database' || target === 'schema' ? 0 : (objectKindDescriptors[target].since?.[privilege] ?? 0);
}

const byVersion = new Map<string, readonly string[]>();

/** The privileges a kind of object has on a server of this major version (asked per object of every role a read plans). */
export function privilegesOf(target: PrivilegeTarget, major: number): readonly string[] {
  return getOrAdd(byVersion, `${target}/${major}`, () => Object.freeze(allowed[target].filter((p) => sinceOf(target, p) <= major)));
}

/** Checks a spec's list; reports every unknown or unsupported entry with its field path. */
export function privilegeErrors(list: unknown, target: PrivilegeTarget, field: string, major: number | undefined): FieldError[] {
  if (!Array.isArray(list)) return [{ type: 'FieldValueInvalid', field, message: 'Invalid value: must be a list of privileges' }];
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  list.forEach((entry, i) => {
    const path = `${field}[${i}]`;
    const name = typeof entry === 'string' ? entry.toUpperCase() : undefined;
    if (name === undefined || !(name === 'ALL' || allowed[target].includes(name))) {
      const supported = ['ALL', ...allowed[target]].map((p) => `"${p}"`).join(', ');
      errors.push({
        type: 'FieldValueNotSupported',
        field: path,
        message: `Unsupported value: ${JSON.stringify(entry)}: supported values for a ${target}: ${supported}`,
      });
    } else if (major !== undefined && !privilegesOf(target, major).includes(name) && name !== 'ALL') {
      errors.push({
        type: 'FieldValueNotSupported',
        field: path,
        message: `Unsupported value: "${name}" needs PostgreSQL ${sinceOf(target, name)} or later; this server runs ${major}`,
      });
    } else if (seen.has(name)) {
      errors.push({ type: 'FieldValueDuplicate', field: path, message: `Duplicate value: "${name}"` });
    }
    if (name) seen.add(name);
  });
  return errors;
}

/** A validated list as a set of concrete privileges: upper case, ALL expanded. */
export function expandPrivileges(list: readonly string[], target: PrivilegeTarget, major: number): Set<string> {
  const all = privilegesOf(target, major);
  const names = list.map((p) => p.toUpperCase());
  return new Set(names.includes('ALL') ? all : names.filter((p) => all.includes(p)));
}

/** Privileges in a fixed order, so rendered SQL is stable. */
export function ordered(privileges: Iterable<string>, target: PrivilegeTarget): string[] {
  const order = allowed[target];
  return [...privileges].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}
