// The cluster's Namespaces as every write checks them (the namespace exists; its labels for allowedNamespaces),
// listed once and kept current by a watch, as kube-apiserver's NamespaceLifecycle admission reads them from an
// informer. A name not in memory is read from the cluster: it may have been created a moment ago. While the watch
// is down, every read goes to the cluster, and so does a read that asks for what is there now.
import { CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import { reflect } from './reflector.ts';
import type { KubeObject } from '../../openapi/objects.ts';

export interface WatchedNamespaces {
  get(name: string, fresh?: boolean): Promise<KubeObject | undefined>;
  stop(): void;
}

/** `read` answers from the cluster; `failed` hears of a watch failure, which the watch recovers from by itself. */
export function watchedNamespaces(
  config: KubeConfig,
  read: (name: string) => Promise<KubeObject | undefined>,
  failed: (error: unknown, failures: number) => void,
): WatchedNamespaces {
  const core = config.makeApiClient(CoreV1Api);
  const known = new Map<string, KubeObject>();
  let current = false;
  const watching = reflect(new Watch(config), '/api/v1/namespaces', {
    list: async () => {
      const list = await core.listNamespace();
      known.clear();
      for (const item of list.items as unknown as KubeObject[]) known.set(item.metadata.name, item);
      return list.metadata?.resourceVersion;
    },
    changed: (type, object) => {
      if (type === 'DELETED') known.delete(object.metadata.name);
      else known.set(object.metadata.name, object);
    },
    open: (now) => (current = now),
    failed,
  });
  return {
    async get(name, fresh = false) {
      return (!fresh && current && known.get(name)) || read(name);
    },
    stop() {
      current = false;
      watching.stop();
    },
  };
}
