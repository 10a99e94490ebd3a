// The connection details written for applications, with passwords that need escaping.
import test from 'ava';
import { connectionDetails } from '../../reconcile/kinds/connectionsecret.ts';

test('every key is there, and uri, jdbc-uri and pgpass escape what needs escaping', (t) => {
  const details = connectionDetails({ host: 'db.example:5433', sslmode: 'require' }, 'app db', 'app_user', 'p@ss:w\\rd/?');
  t.deepEqual(details, {
    host: 'db.example',
    port: '5433',
    dbname: 'app db',
    username: 'app_user',
    password: 'p@ss:w\\rd/?',
    uri: 'postgresql://app_user:p%40ss%3Aw%5Crd%2F%3F@db.example:5433/app%20db?sslmode=require',
    'jdbc-uri': 'jdbc:postgresql://db.example:5433/app%20db?user=app_user&password=p%40ss%3Aw%5Crd%2F%3F&sslmode=require',
    pgpass: 'db.example:5433:app db:app_user:p@ss\\:w\\\\rd/?\n',
  });
  t.false(connectionDetails({ host: '10.0.0.1:5432', sslmode: undefined }, 'd', 'u', 'p').uri!.includes('sslmode'));
});
