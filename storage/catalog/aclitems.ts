// ACL items read as PostgreSQL writes them (aclitemout): `grantee=privileges/grantor`, one letter per privilege
// (`*` after one: with grant option), an empty grantee for PUBLIC, a name in double quotes unless it is only
// letters, digits and underscores (a quote in it doubled). A snapshot reads each ACL as text and keeps the items
// of the roles it covers: the server only writes the ACL out, where aclexplode() made one row per privilege of
// every grantee, most of them roles the read does not cover (ten times the server's work at 1,000 grantees).
import type { Acl } from './snapshot.ts';

/** The privilege each letter stands for, named as aclexplode() and has_*_privilege() name them. */
const privilegeOfLetter: Readonly<Record<string, string>> = {
  a: 'INSERT',
  r: 'SELECT',
  w: 'UPDATE',
  d: 'DELETE',
  D: 'TRUNCATE',
  x: 'REFERENCES',
  t: 'TRIGGER',
  X: 'EXECUTE',
  U: 'USAGE',
  C: 'CREATE',
  T: 'TEMPORARY',
  c: 'CONNECT',
  s: 'SET',
  A: 'ALTER SYSTEM',
  m: 'MAINTAIN',
};

/** The grantee of an item ('' for PUBLIC) and where its privileges begin (after the `=`). */
function granteeOf(item: string): { grantee: string; next: number } {
  if (!item.startsWith('"')) {
    const equals = item.indexOf('=');
    return { grantee: item.slice(0, equals), next: equals + 1 };
  }
  let grantee = '';
  let i = 1;
  for (;;) {
    const quote = item.indexOf('"', i);
    grantee += item.slice(i, quote);
    if (item[quote + 1] !== '"') return { grantee, next: quote + 2 };
    grantee += '"';
    i = quote + 2;
  }
}

/** Privileges by the letters that write them: an ACL of 1,000 grantees repeats a few (`arwd`) 1,000 times. */
const privilegesOfLetters = new Map<string, readonly string[]>();
const lettersKept = 1000;

/** The privileges `letters` write, sorted by name; grant options are not told apart. Shared: never changed. */
function privilegesOf(letters: string): readonly string[] {
  let privileges = privilegesOfLetters.get(letters);
  if (privileges) return privileges;
  privileges = Object.freeze([...letters].flatMap((letter) => privilegeOfLetter[letter] ?? []).sort());
  if (privilegesOfLetters.size < lettersKept) privilegesOfLetters.set(letters, privileges);
  return privileges;
}

/** Calls `found` with the grantee and sorted privileges of each item whose grantee `wanted` accepts. */
export function eachGrant(
  items: readonly string[],
  wanted: (grantee: string) => boolean,
  found: (grantee: string, privileges: readonly string[]) => void,
): void {
  for (const item of items) {
    const { grantee, next } = granteeOf(item);
    if (wanted(grantee)) found(grantee, privilegesOf(item.slice(next, item.indexOf('/', next))));
  }
}

/** `privileges` joined with those an earlier item of the same grantee gave (one item per grantor), sorted. */
export function mergedPrivileges(before: readonly string[] | undefined, privileges: readonly string[]): readonly string[] {
  return before === undefined || before.length === 0 ? privileges : Object.freeze([...new Set([...before, ...privileges])].sort());
}

/** The privileges of the roles in `roles`, the owner left out (it holds everything anyway). */
export function aclOf(items: readonly string[], roles: ReadonlySet<string>, owner: string): Acl {
  const acl: Acl = {};
  eachGrant(
    items,
    (grantee) => grantee !== owner && roles.has(grantee),
    (grantee, privileges) => (acl[grantee] = mergedPrivileges(acl[grantee], privileges)),
  );
  return acl;
}
