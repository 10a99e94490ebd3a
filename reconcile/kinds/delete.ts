// Deleting an object, from a request or from the reconciler: finalizers, the kind's reclaim, then the store.
import type { KubeObject } from '../../openapi/objects.ts';
import type { ResourceStore } from '../../storage/objects/types.ts';
import { storeResource, type ResourceKind, type WriteContext } from './resource.ts';
import { rfc3339 } from '../../lib/time.ts';
import { Conflict } from '../../storage/objects/errors.ts';

/**
 * Deletes an object as kube-apiserver does with finalizers, running the kind's reclaim first when the object
 * carries its finalizer: the object goes once no finalizer remains; otherwise it stays, marked with a
 * deletionTimestamp (and a Warning says why), until the reconciler or the finalizers' owners finish.
 */
export async function deleteObject(
  kind: ResourceKind,
  store: ResourceStore,
  object: KubeObject,
  request: WriteContext,
): Promise<KubeObject> {
  if (!object.metadata.deletionTimestamp) for (const warning of (await kind.strategy.deleteWarnings?.(object)) ?? []) request.warn(warning);
  const reclaim = kind.strategy.reclaim;
  let finalizers = (object.metadata.finalizers as string[] | undefined) ?? [];
  if (reclaim && !request.dryRun && (finalizers.includes(reclaim.finalizer) || reclaim.needed(object))) {
    const others = finalizers.filter((f) => f !== reclaim.finalizer);
    try {
      await reclaim.run(object);
      finalizers = others;
    } catch (error) {
      request.warn(`${(error as Error).message}; the object stays, marked for deletion, until that succeeds`);
      finalizers = [...others, reclaim.finalizer];
    }
  }
  const resource = storeResource(kind);
  const precondition = (current: KubeObject) => ({ expectedResourceVersion: String(current.metadata.resourceVersion) });
  if (finalizers.length === 0) {
    if (request.dryRun) return object;
    const deleted = await despitePersistedStatus(store, resource, object, (current) =>
      store.delete(resource, current.metadata.namespace ?? '', current.metadata.name, precondition(current)),
    );
    await kind.strategy.afterDelete?.(deleted);
    return deleted;
  }
  const deletionTimestamp = object.metadata.deletionTimestamp ?? rfc3339();
  const marked = (current: KubeObject) => ({
    ...current,
    metadata: { ...current.metadata, finalizers, deletionTimestamp, deletionGracePeriodSeconds: 0 },
  });
  return request.dryRun
    ? marked(object)
    : despitePersistedStatus(store, resource, object, (current) => store.update(resource, marked(current), precondition(current)));
}

/**
 * A write under the object's lock, on the object as read; when reads have persisted a live status meanwhile
 * (reads take no lock, and a reclaim can take a while; many concurrent lists may each persist one), again on the
 * stored object while its spec is the same, a few times. Without this, a drop that succeeded could leave its
 * object behind, and the reconciler would create it again.
 */
export async function despitePersistedStatus(
  store: ResourceStore,
  resource: string,
  object: KubeObject,
  write: (current: KubeObject) => Promise<KubeObject>,
): Promise<KubeObject> {
  let current = object;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write(current);
    } catch (error) {
      if (!(error instanceof Conflict) || attempt === persistedStatusAttempts) throw error;
      current = await store.get(resource, object.metadata.namespace ?? '', object.metadata.name);
      if (current.metadata.uid !== object.metadata.uid || current.metadata.generation !== object.metadata.generation) throw error;
    }
  }
}

const persistedStatusAttempts = 5;
