// The cluster's Namespaces as every write checks them (the namespace exists; its labels for allowedNamespaces),
// listed once and kept current by a watch, as kube-apiserver's NamespaceLifecycle admission reads them from an
// informer. A name not in memory is read from the cluster: it may have been created a moment ago. While the watch
// is down, every read goes to the cluster.
import { CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import { keepWatching } from '../../lib/rewatch.ts';
import type { KubeObject } from '../../openapi/objects.ts';

export interface WatchedNamespaces {
  get(name: string): Promise<KubeObject | undefined>;
  stop(): void;
}

/** `read` answers from the cluster; `failed` hears of a watch failure, which the watch recovers from by itself. */
export function watchedNamespaces(
  config: KubeConfig,
  read: (name: string) => Promise<KubeObject | undefined>,
  failed: (error: unknown, failures: number) => void,
): WatchedNamespaces {
  const core = config.makeApiClient(CoreV1Api);
  const watch = new Watch(config);
  const known = new Map<string, KubeObject>();
  let resourceVersion: string | undefined;
  let current = false;
  const onEvent = (type: string, object: KubeObject) => {
    if (type === 'ERROR') {
      // Too old to resume (410): the next watch starts from a new list.
      resourceVersion = undefined;
      current = false;
      return;
    }
    resourceVersion = object.metadata.resourceVersion;
    if (type === 'DELETED') known.delete(object.metadata.name);
    else if (type !== 'BOOKMARK') known.set(object.metadata.name, object);
  };
  const watching = keepWatching(async (ended) => {
    current = false;
    if (resourceVersion === undefined) {
      const list = await core.listNamespace();
      known.clear();
      for (const item of list.items as unknown as KubeObject[]) known.set(item.metadata.name, item);
      resourceVersion = list.metadata?.resourceVersion;
    }
    const query = { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 + Math.floor(Math.random() * 300) };
    const controller = await watch.watch('/api/v1/namespaces', query, onEvent, (error: unknown) => {
      current = false;
      ended(error ?? undefined);
    });
    current = true;
    return () => controller.abort();
  }, failed);
  return {
    async get(name) {
      return (current && known.get(name)) || read(name);
    },
    stop() {
      current = false;
      watching.stop();
    },
  };
}
