// The kinds of postgres.databases.dinhloc.dev/v1alpha1: their rules, which the HTTP layer and the loops call alike.
import type { ResourceKind } from './resource.ts';
import { databases } from './database.ts';
import { databaseClusters } from './databasecluster.ts';
import { databaseRoles } from './databaserole.ts';
import type { Dependencies } from './shared.ts';

export function ourKinds(deps: Dependencies): ResourceKind[] {
  return [databaseClusters(deps), databases(deps), databaseRoles(deps)];
}
