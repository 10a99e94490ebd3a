// Privileges come from an allow-list per kind of object; ALL expands for the server's version, so specs and
// live ACLs compare as sets and never show a perpetual difference.
import type { FieldError } from '../../openapi/fields.ts';

export type ObjectKind = 'table' | 'sequence' | 'function';
export type PrivilegeTarget = 'database' | 'schema' | ObjectKind;

export const objectKinds: readonly ObjectKind[] = ['table', 'sequence', 'function'];

const allowed: Record<PrivilegeTarget, readonly string[]> = {
  database: ['CONNECT', 'CREATE', 'TEMPORARY'],
  schema: ['USAGE', 'CREATE'],
  table: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN'],
  sequence: ['USAGE', 'SELECT', 'UPDATE'],
  function: ['EXECUTE'],
};

/** The privileges a kind of object has on a server of this major version. */
export function privilegesOf(target: PrivilegeTarget, major: number): readonly string[] {
  return target === 'table' && major < 17 ? allowed.table.filter((p) => p !== 'MAINTAIN') : allowed[target];
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
        message: `Unsupported value: "${name}" needs PostgreSQL 17 or later; this server runs ${major}`,
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
