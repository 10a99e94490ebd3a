// The kinds' TypeScript types are read from their schemas (Static<typeof schema>), not written beside them: what
// the type checker accepts, the schema accepts, and what the schema requires or enumerates, the type does too
// (npm run typecheck checks the @ts-expect-error lines).
import test from 'ava';
import type { DatabaseSpec } from '../../openapi/database.ts';
import type { DatabaseClusterSpec } from '../../openapi/databasecluster.ts';
import type { DatabaseRoleSpec } from '../../openapi/databaserole.ts';
import { apiVersion, kinds } from '../../openapi/index.ts';
import { validate } from '../../openapi/validate.ts';

const object = (kind: string, spec: unknown) => ({ apiVersion, kind, metadata: { name: 'x', namespace: 'default' }, spec });

test('a role spec the type checker accepts, nested keyed lists and enums included, is valid for the schema', (t) => {
  const spec: DatabaseRoleSpec = {
    roleName: 'app',
    databaseClusterRef: { name: 'main' },
    permissions: [{ database: 'db', schemas: [{ name: 'public', tables: [{ name: '*', privileges: ['SELECT'] }] }] }],
    reclaimPolicy: 'Delete',
  };
  t.deepEqual(validate(object('DatabaseRole', spec), kinds.databaseroles), []);
  // @ts-expect-error roleName is required by the schema
  const missing: DatabaseRoleSpec = { databaseClusterRef: { name: 'main' } };
  // @ts-expect-error reclaimPolicy is one of the schema's enum
  const unknownPolicy: DatabaseRoleSpec = { roleName: 'a', databaseClusterRef: { name: 'm' }, reclaimPolicy: 'Drop' };
  t.not(validate(object('DatabaseRole', missing), kinds.databaseroles).length, 0);
  t.not(validate(object('DatabaseRole', unknownPolicy), kinds.databaseroles).length, 0);
});

test('database and cluster specs follow their schemas the same way', (t) => {
  const database: DatabaseSpec = { name: 'db', databaseClusterRef: { name: 'main' }, extensions: ['pgcrypto'], connectionLimit: 5 };
  t.deepEqual(validate(object('Database', database), kinds.databases), []);
  const cluster: DatabaseClusterSpec = {
    connection: { name: 's', namespace: 'default' },
    driftPolicy: 'Report',
    adoption: [{ namespaces: ['team-*'] }],
  };
  t.deepEqual(validate({ ...object('DatabaseCluster', cluster), metadata: { name: 'x' } }, kinds.databaseclusters), []);
  // @ts-expect-error driftPolicy is Correct or Report
  const wrong: DatabaseClusterSpec = { connection: { name: 's', namespace: 'default' }, driftPolicy: 'Fix' };
  t.not(validate({ ...object('DatabaseCluster', wrong), metadata: { name: 'x' } }, kinds.databaseclusters).length, 0);
});
