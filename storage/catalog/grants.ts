// The grants a role really holds on the managed databases, in the shape of spec.permissions (status.permissions).
// Per schema and kind of object, "*" shows the privileges every existing object has plus the default privileges
// new objects get; an object holding other privileges than those (a REVOKE by hand on it) is named with its
// own. Objects the role owns hold everything and are left out, as the planner leaves them.
import type { DatabasePermission, ObjectPermission, SchemaPermission } from '../../openapi/databaserole.ts';
import { objectKindDescriptors, objectKinds, type ObjectKind } from './objectkinds.ts';
import { ordered, privilegesOf } from './privileges.ts';
import type { LiveDatabase, LiveObject, LiveSchema, Snapshot } from './snapshot.ts';
import { getOrAdd } from '../../lib/maps.ts';

/** Named objects shown per schema and kind at most; the others are counted. */
export const namedObjectsShown = 20;

export interface LivePermissions {
  permissions: DatabasePermission[];
  /** Named objects left out beyond namedObjectsShown per schema and kind. */
  omitted: number;
}

const noKeys: ReadonlySet<string> = new Set();

/** The keys of a schema's objects of one kind, as a list and a set: shared by every role that owns none of them. */
const keysOfObjects = new WeakMap<Map<string, LiveObject>, { list: readonly string[]; set: ReadonlySet<string> }>();

function keysOf(objects: Map<string, LiveObject>): { list: readonly string[]; set: ReadonlySet<string> } {
  return getOrAdd(keysOfObjects, objects, () => ({ list: [...objects.keys()], set: new Set(objects.keys()) }));
}

/**
 * Which objects of a kind in a schema hold each privilege for the role: the keys of the objects it does not own
 * (those it owns hold everything), and per privilege the keys granting it. The planner compares the spec with it.
 * A read plans every role against one snapshot: what all roles share is built once.
 */
export function heldPrivileges(
  schema: LiveSchema,
  role: string,
  kind: ObjectKind,
  major: number,
): { notOwned: readonly string[]; heldKeys: Map<string, ReadonlySet<string>> } {
  const held = schema.grants.get(role)?.[kind];
  const objects = schema.objects[kind];
  const all = keysOf(objects);
  const ownsSome = all.list.some((key) => objects.get(key)!.owner === role);
  const notOwned = ownsSome ? all.list.filter((key) => objects.get(key)!.owner !== role) : all.list;
  const notOwnedSet = ownsSome ? new Set(notOwned) : all.set;
  // Only objects it does not own count (an object created between the reads of objects and of grants does not).
  const heldKeys = new Map(
    privilegesOf(kind, major).map((p) => {
      const h = held?.get(p);
      return [p, h === 'all' ? notOwnedSet : h ? new Set(h.filter((key) => notOwnedSet.has(key))) : noKeys];
    }),
  );
  return { notOwned, heldKeys };
}

/**
 * Whether the role holds no privilege on a schema's objects of one kind and gets none by default from `creator`:
 * then there is nothing to show, and with nothing asked for, nothing to plan.
 */
export function holdsNothing(schema: LiveSchema, role: string, kind: ObjectKind, creator: string): boolean {
  const held = schema.grants.get(role)?.[kind].size ?? 0;
  return held === 0 && (creator === role || (schema.defaults.get(creator)?.get(role)?.[kind].length ?? 0) === 0);
}

/** One kind of object in one schema: "*" and the objects that differ from it. */
function objectGrants(
  role: string,
  creator: string,
  schema: LiveSchema,
  kind: ObjectKind,
  major: number,
): { entries: ObjectPermission[]; omitted: number } {
  if (holdsNothing(schema, role, kind, creator)) return { entries: [], omitted: 0 };
  const { notOwned, heldKeys } = heldPrivileges(schema, role, kind, major);
  const privileges = privilegesOf(kind, major);
  const defaults = creator === role ? [] : (schema.defaults.get(creator)?.get(role)?.[kind] ?? []);
  // A privilege every object holds (each held key is an object it does not own, so counting is enough).
  const common = notOwned.length === 0 ? [] : privileges.filter((p) => heldKeys.get(p)!.size === notOwned.length);
  const star = new Set([...common, ...defaults]);
  // An object differs from "*" when it lacks one of its privileges or holds one beyond them; only the privileges
  // some objects hold and others lack can make one differ (or a default this server's objects cannot hold).
  const beyond = [...star].some((p) => !privileges.includes(p));
  const uneven = privileges.filter((p) => heldKeys.get(p)!.size !== (star.has(p) ? notOwned.length : 0));
  const differs = (key: string) => beyond || uneven.some((p) => star.has(p) !== heldKeys.get(p)!.has(key));
  const differing = uneven.length === 0 && !beyond ? [] : notOwned.filter(differs).sort();
  const entries: ObjectPermission[] = [
    ...(star.size > 0 ? [{ name: '*', privileges: ordered(star, kind) }] : []),
    ...differing.slice(0, namedObjectsShown).map((key) => ({
      name: key,
      privileges: ordered(
        privileges.filter((p) => heldKeys.get(p)!.has(key)),
        kind,
      ),
    })),
  ];
  return { entries, omitted: Math.max(0, differing.length - namedObjectsShown) };
}

function schemaGrants(
  role: string,
  database: LiveDatabase,
  schema: LiveSchema,
  major: number,
): { entry: SchemaPermission | undefined; omitted: number } {
  const entry: SchemaPermission = { name: schema.name, privileges: ordered(schema.acl[role] ?? [], 'schema') };
  let omitted = 0;
  for (const kind of objectKinds) {
    const grants = objectGrants(role, database.owner, schema, kind, major);
    omitted += grants.omitted;
    if (grants.entries.length > 0) entry[objectKindDescriptors[kind].list] = grants.entries;
  }
  const empty = entry.privileges!.length === 0 && objectKinds.every((kind) => !entry[objectKindDescriptors[kind].list]);
  return { entry: empty ? undefined : entry, omitted };
}

/** The role's live grants on `databases` (the managed ones), in the order and shape of spec.permissions. */
export function livePermissions(role: string, databases: readonly string[], snapshot: Snapshot): LivePermissions {
  const permissions: DatabasePermission[] = [];
  let omitted = 0;
  for (const name of [...databases].sort()) {
    const database = snapshot.databases.get(name);
    if (!database) continue;
    const schemas: SchemaPermission[] = [];
    if (!('error' in database.contents)) {
      for (const schema of [...database.contents.schemas.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const grants = schemaGrants(role, database, schema, snapshot.major);
        omitted += grants.omitted;
        if (grants.entry) schemas.push(grants.entry);
      }
    }
    const privileges = ordered(database.acl[role] ?? [], 'database');
    if (privileges.length > 0 || schemas.length > 0)
      permissions.push({ database: name, privileges, ...(schemas.length > 0 ? { schemas } : {}) });
  }
  return { permissions, omitted };
}
