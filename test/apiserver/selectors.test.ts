// Label and field selectors as kubectl sends them.
import test from 'ava';
import { fieldSelector, labelSelector } from '../../apiserver/selectors.ts';
import { StatusError } from '../../openapi/status.ts';

const labels = { app: 'web', tier: 'front', 'example.com/owner': 'team-a' };

const cases: [string, boolean][] = [
  ['', true],
  ['app=web', true],
  ['app==web', true],
  ['app!=web', false],
  ['app=db', false],
  ['tier in (front,back)', true],
  ['tier notin (front)', false],
  ['missing notin (x)', true],
  ['app', true],
  ['!app', false],
  ['!missing', true],
  ['app=web,tier in (front, back),example.com/owner=team-a', true],
  ['app=web,tier=back', false],
];

for (const [selector, expected] of cases) {
  test(`labelSelector "${selector}" ${expected ? 'matches' : 'does not match'}`, (t) => {
    t.is(labelSelector(selector)(labels), expected);
  });
}

for (const bad of ['app=we b', 'a b c', '=web', 'app=(x']) {
  test(`labelSelector "${bad}" is a BadRequest`, (t) => {
    t.throws(() => labelSelector(bad), { instanceOf: StatusError, message: /unable to parse requirement/ });
  });
}

test('fieldSelector supports metadata.name and metadata.namespace and refuses other fields', (t) => {
  const fields = ['metadata.name', 'metadata.namespace'];
  t.true(fieldSelector('metadata.name=app-user', fields)({ 'metadata.name': 'app-user', 'metadata.namespace': 'default' }));
  t.false(fieldSelector('metadata.namespace!=default', fields)({ 'metadata.name': 'x', 'metadata.namespace': 'default' }));
  t.throws(() => fieldSelector('spec.roleName=x', fields), {
    instanceOf: StatusError,
    message: 'field label not supported: spec.roleName',
  });
  t.throws(() => fieldSelector('metadata.name', fields), { instanceOf: StatusError });
});
