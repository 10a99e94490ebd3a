// spec.allowedNamespaces decided on Namespaces that cluster mode keeps in memory from a watch: memory may be a
// moment behind a label change, so a namespace is never refused on what memory kept, only on what is there now.
import test from 'ava';
import { namespaceAllowed, type Dependencies, type ResolvedCluster } from '../../reconcile/kinds/shared.ts';
import type { KubeObject } from '../../openapi/objects.ts';

const cluster = {
  apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
  kind: 'DatabaseCluster',
  metadata: { name: 'shared' },
  spec: {
    connection: { name: 'dsn', namespace: 'default' },
    allowedNamespaces: { from: 'Selector', selector: { matchLabels: { tenancy: 'allowed' } } },
  },
} as unknown as ResolvedCluster['object'];

function namespace(labels: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels } };
}

/** Namespaces as memory kept them and as the cluster holds them now; the reads made, `kept` or `fresh`. */
function withNamespaces(kept: KubeObject, now: KubeObject) {
  const reads: string[] = [];
  const deps = {
    core: {
      namespace: async (_name: string, fresh = false) => {
        reads.push(fresh ? 'fresh' : 'kept');
        return fresh ? now : kept;
      },
    },
  } as unknown as Dependencies;
  return { deps, reads };
}

test('a label set a moment ago that memory has not seen yet admits the namespace: a refusal reads the Namespace again', async (t) => {
  const { deps, reads } = withNamespaces(namespace({}), namespace({ tenancy: 'allowed' }));
  t.true(await namespaceAllowed(deps, cluster, 'team-a'));
  t.deepEqual(reads, ['kept', 'fresh']);
});

test('a namespace that lost its label is refused once the Namespace as it is now says so', async (t) => {
  const { deps, reads } = withNamespaces(namespace({ tenancy: 'allowed' }), namespace({}));
  // Memory still admits it: a write in the moment before the watch tells the change is judged on what was seen.
  t.true(await namespaceAllowed(deps, cluster, 'team-a'));
  t.deepEqual(reads, ['kept'], 'an admitted namespace costs no read of the cluster');
  const { deps: later } = withNamespaces(namespace({}), namespace({}));
  t.false(await namespaceAllowed(later, cluster, 'team-a'));
});

test('a namespace with a look-alike label is refused on both reads', async (t) => {
  const impostor = namespace({ tenancy: 'allowed ', 'tenancy.': 'allowed' });
  const { deps, reads } = withNamespaces(impostor, impostor);
  t.false(await namespaceAllowed(deps, cluster, 'team-a'));
  t.deepEqual(reads, ['kept', 'fresh']);
});
