// DatabaseCluster: a PostgreSQL server, reached through a DSN kept in a Secret.
import { databaseCluster } from '../../openapi/databasecluster.ts';
import type { ResourceKind } from '../resource.ts';
import { servedKind } from './kind.ts';
import type { Services } from './services.ts';

export function databaseClusters(_services: Services): ResourceKind {
  return servedKind(databaseCluster);
}
