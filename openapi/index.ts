// The kinds of postgres.databases.dinhloc.dev/v1alpha1, by resource: the one registry discovery, validation,
// the OpenAPI documents and the Table output read.
import { databaseCluster } from './databasecluster.ts';
import { database } from './database.ts';
import { databaseRole } from './databaserole.ts';
import type { KindDescriptor } from './kind.ts';

export const kinds = {
  databaseclusters: databaseCluster,
  databases: database,
  databaseroles: databaseRole,
} as const;

export type Resource = keyof typeof kinds;

/** The kind served as `resource`; undefined for anything else (including names like "constructor"). */
export function kindOf(resource: string): KindDescriptor | undefined {
  return Object.hasOwn(kinds, resource) ? kinds[resource as Resource] : undefined;
}

export { apiVersion, group, version, type KindDescriptor } from './kind.ts';
