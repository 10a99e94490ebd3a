// The kinds of postgres.databases.dinhloc.dev/v1alpha1: their rules, which the HTTP layer and the loops call alike.
import type { ResourceKind } from './resource.ts';
import { databases } from './database.ts';
import { databaseClusters } from './databasecluster.ts';
import { databaseRoles } from './databaserole.ts';
import type { Services } from './services.ts';

export function ourKinds(services: Services): ResourceKind[] {
  return [databaseClusters(services), databases(services), databaseRoles(services)];
}
