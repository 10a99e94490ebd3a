// Name patterns of the DatabaseCluster's rules (grantableRoles, adoption): `*` matches any run of characters;
// nothing else is special.

export function matchesPattern(pattern: string, value: string): boolean {
  const expression = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${expression}$`).test(value);
}
