// The kinds of objects that carry privileges are described once (storage/catalog/objectkinds.ts); the DatabaseRole
// schema lists the same kinds, and what the descriptors say reaches the allow-lists.
import test from 'ava';
import { kinds } from '../../openapi/index.ts';
import { objectKindDescriptors, objectKinds } from '../../storage/catalog/objectkinds.ts';
import { privilegesOf } from '../../storage/catalog/privileges.ts';

test('the DatabaseRole schema has a list per described kind of object, and no other', (t) => {
  const schemaPermission = kinds.databaseroles.schema.spec.properties!.permissions!.items!.properties!.schemas!.items!.properties!;
  const lists = Object.keys(schemaPermission).filter((field) => schemaPermission[field]!.type === 'array' && field !== 'privileges');
  t.deepEqual(lists.sort(), objectKinds.map((kind) => objectKindDescriptors[kind].list).sort());
  for (const kind of objectKinds) {
    const list = schemaPermission[objectKindDescriptors[kind].list]!;
    t.deepEqual(list['x-kubernetes-list-map-keys'], ['name'], `${kind}: a keyed list`);
  }
});

test('a privilege a server version lacks is not among its privileges: MAINTAIN from PostgreSQL 17', (t) => {
  t.false(privilegesOf('table', 16).includes('MAINTAIN'));
  t.true(privilegesOf('table', 17).includes('MAINTAIN'));
  t.deepEqual(privilegesOf('sequence', 13), ['USAGE', 'SELECT', 'UPDATE']);
});
