// DatabaseRole: a role on a DatabaseCluster, its password from a Secret, its privileges per database.
import { databaseRole } from '../../openapi/databaserole.ts';
import type { DatabaseRoleSpec } from '../../openapi/databaserole.ts';
import { forbiddenAttributeErrors, validateRoleSpec } from '../../storage/catalog/roles.ts';
import type { ResourceKind } from '../resource.ts';
import { servedKind } from './kind.ts';
import type { Services } from './services.ts';

export function databaseRoles(_services: Services): ResourceKind {
  return servedKind(databaseRole, {
    forbidden: (o) => forbiddenAttributeErrors((o.spec ?? {}) as object),
    validateSpec: (o) => validateRoleSpec(o.spec as DatabaseRoleSpec),
    immutable: ['roleName', 'databaseClusterRef'],
  });
}
