// The Service of a Database whose DSN names an IP gets an EndpointSlice: its address family, address and port
// from the DSN's host, the labels kube-proxy and controllers read, and the Service as its owner. Writing it to a
// real kube-apiserver is in test/e2e/aggregation.test.ts.
import test from 'ava';
import { desiredEndpointSlice, targetOf, type Target } from '../../reconcile/kinds/dbservice.ts';
import type { KubeObject } from '../../openapi/objects.ts';

const targets: { hostPort: string; expected: Target }[] = [
  { hostPort: '10.0.0.7:5432', expected: { host: '10.0.0.7', port: 5432, family: 4 } },
  { hostPort: '[fd00::7]:6432', expected: { host: 'fd00::7', port: 6432, family: 6 } },
  { hostPort: 'db.example.com:5432', expected: { host: 'db.example.com', port: 5432, family: 0 } },
  { hostPort: '10.0.7:5432', expected: { host: '10.0.7', port: 5432, family: 0 } },
];
for (const c of targets) {
  test(`the DSN host ${c.hostPort} is ${c.expected.family ? `an IPv${c.expected.family} address` : 'a name'}`, (t) => {
    t.deepEqual(targetOf(c.hostPort), c.expected);
  });
}

const service: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders-db', namespace: 'shop', uid: 'svc-uid' } };

test('an IPv4 host makes an IPv4 slice for the Service, owned by it, with the port named postgres', (t) => {
  t.deepEqual(desiredEndpointSlice(service, targetOf('10.0.0.7:5432')), {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'orders-db',
      namespace: 'shop',
      labels: { 'kubernetes.io/service-name': 'orders-db', 'endpointslice.kubernetes.io/managed-by': 'postgres.databases.dinhloc.dev' },
      ownerReferences: [
        { apiVersion: 'v1', kind: 'Service', name: 'orders-db', uid: 'svc-uid', controller: true, blockOwnerDeletion: true },
      ],
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.7'], conditions: { ready: true } }],
    ports: [{ name: 'postgres', protocol: 'TCP', port: 5432 }],
  });
});

test('an IPv6 host makes an IPv6 slice holding the address without brackets', (t) => {
  t.like(desiredEndpointSlice(service, targetOf('[fd00::7]:6432')), {
    addressType: 'IPv6',
    endpoints: [{ addresses: ['fd00::7'] }],
    ports: [{ port: 6432 }],
  });
});
