// Accept negotiation as kube-apiserver does it: the clauses by quality, the first this server can serve wins.
import test from 'ava';
import { representationOf, type Representation } from '../../apiserver/representation.ts';

const cases: [string, string | undefined, Representation][] = [
  ['no Accept: the object', undefined, { as: 'Object' }],
  ['plain JSON: the object', 'application/json', { as: 'Object' }],
  [
    "kubectl get's Table",
    'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
    { as: 'Table', groupVersion: 'meta.k8s.io/v1' },
  ],
  [
    "the metadata client's GET and WATCH: the protobuf clause is passed over",
    'application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json',
    { as: 'PartialObjectMetadata', groupVersion: 'meta.k8s.io/v1' },
  ],
  [
    "the metadata client's LIST",
    'application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
    { as: 'PartialObjectMetadataList', groupVersion: 'meta.k8s.io/v1' },
  ],
  [
    'v1beta1, parameters in any order',
    'application/json;v=v1beta1;g=meta.k8s.io;as=PartialObjectMetadata',
    { as: 'PartialObjectMetadata', groupVersion: 'meta.k8s.io/v1beta1' },
  ],
  ['an unknown conversion is passed over', 'application/json;as=Widget;g=example.dev;v=v1,application/json', { as: 'Object' }],
  ['another group is passed over', 'application/json;as=Table;g=example.dev;v=v1', { as: 'Object' }],
  ['protobuf alone: the object in JSON', 'application/vnd.kubernetes.protobuf', { as: 'Object' }],
  [
    'a wildcard serves JSON',
    '*/*;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
    { as: 'PartialObjectMetadata', groupVersion: 'meta.k8s.io/v1' },
  ],
  [
    'a higher quality wins over the order',
    'application/json;q=0.5,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
    { as: 'PartialObjectMetadata', groupVersion: 'meta.k8s.io/v1' },
  ],
];

for (const [name, accept, expected] of cases) {
  test(name, (t) => {
    t.deepEqual(representationOf(accept), expected);
  });
}
