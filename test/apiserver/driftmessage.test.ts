// The DriftDetected Event's message: what differs, in words, at most five entries named.
import test from 'ava';
import type { DriftEntry } from '../../openapi/common.ts';
import { driftMessage } from '../../reconcile/kinds/shared.ts';

const revoked = (table: string): DriftEntry => ({
  kind: 'table',
  database: 'app',
  schema: 'public',
  object: table,
  privilege: 'SELECT',
  expected: 'granted',
  actual: 'revoked',
});

test('one entry names the object, the privilege, what was expected and what was found', (t) => {
  t.is(
    driftMessage([revoked('orders')]),
    '1 difference between the spec and the catalog: table app.public.orders: SELECT expected granted, found revoked',
  );
});

test('a role attribute is named by the attribute, and a password by "from the Secret", never its value', (t) => {
  const message = driftMessage([
    { kind: 'role', object: 'app_user', attribute: 'password', expected: 'from the Secret', actual: 'different' },
  ]);
  t.is(message, '1 difference between the spec and the catalog: role app_user: password expected from the Secret, found different');
});

test('more than five entries: five are named and the rest counted', (t) => {
  const message = driftMessage(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map(revoked));
  t.regex(message, /^7 differences between the spec and the catalog: /);
  t.true(message.includes('app.public.e:'));
  t.false(message.includes('app.public.f:'));
  t.regex(message, /; and 2 more$/);
});

test("a database's or a schema's own entry names it once", (t) => {
  const message = driftMessage([
    { kind: 'database', database: 'app', object: 'app', privilege: 'CREATE', expected: 'revoked', actual: 'granted' },
    { kind: 'schema', database: 'app', object: 'reporting', privilege: 'USAGE', expected: 'granted', actual: 'revoked' },
  ]);
  t.is(
    message,
    '2 differences between the spec and the catalog: database app: CREATE expected revoked, found granted; schema app.reporting: USAGE expected granted, found revoked',
  );
});
