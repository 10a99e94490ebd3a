// Database: a database on a DatabaseCluster, with its schemas and extensions.
import { database } from '../../openapi/database.ts';
import type { DatabaseSpec } from '../../openapi/database.ts';
import { validateDatabaseSpec } from '../../storage/catalog/databases.ts';
import type { ResourceKind } from '../resource.ts';
import { servedKind } from './kind.ts';
import type { Services } from './services.ts';

export function databases(_services: Services): ResourceKind {
  return servedKind(database, {
    validateSpec: (o) => validateDatabaseSpec(o.spec as DatabaseSpec),
    immutable: ['name', 'databaseClusterRef', 'encoding', 'lcCollate', 'lcCtype', 'template'],
  });
}
