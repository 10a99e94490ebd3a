// One resource of the store served in another form, as kube-apiserver serves events.k8s.io/v1 Events from the
// storage of core v1 Events: requests name the served resource, the store keeps the objects under the stored
// one, and each object is converted on its way in and out. Errors name the resource that was asked for.
import type { KubeObject } from '../../openapi/objects.ts';
import { AlreadyExists, Conflict, NotFound, qualifiedResource } from './errors.ts';
import type { ResourceStore } from './types.ts';

export interface StoredForm {
  /** The store's resource that holds the objects ("/events"). */
  resource: string;
  /** An object as the store keeps it. */
  toStored(object: KubeObject): KubeObject;
  /** A stored object as the served resource shows it. */
  fromStored(object: KubeObject): KubeObject;
}

/** The store's error about a stored object, naming the served resource instead. */
function renamed(error: unknown, stored: string, served: string): unknown {
  if (!(error instanceof NotFound || error instanceof AlreadyExists || error instanceof Conflict) || error.key.resource !== stored)
    return error;
  const key = { ...error.key, resource: served };
  if (error instanceof NotFound) return new NotFound(key);
  if (error instanceof AlreadyExists) return new AlreadyExists(key);
  const prefix = `Operation cannot be fulfilled on ${qualifiedResource(stored)} "${key.name}": `;
  return new Conflict(key, error.message.startsWith(prefix) ? error.message.slice(prefix.length) : undefined);
}

/**
 * `store`, where the resource `served` is the resource `form.resource` converted. `find` takes the path of a
 * field of the stored form. Other resources pass through unchanged.
 */
export function convertedStore(store: ResourceStore, served: string, form: StoredForm): ResourceStore {
  const ours = (resource: string | undefined) => resource === served;
  const fail = (error: unknown): never => {
    throw renamed(error, form.resource, served);
  };
  const out = (object: KubeObject) => form.fromStored(object);
  return {
    location: store.location,
    get: (resource, namespace, name) =>
      ours(resource) ? store.get(form.resource, namespace, name).then(out, fail) : store.get(resource, namespace, name),
    list: async (resource, options) => {
      if (!ours(resource)) return store.list(resource, options);
      const page = await store.list(form.resource, options).catch(fail);
      return { ...page, items: page.items.map(out) };
    },
    find: async (resource, path, values) =>
      ours(resource) ? (await store.find(form.resource, path, values).catch(fail)).map(out) : store.find(resource, path, values),
    create: (resource, object, claims) =>
      ours(resource) ? store.create(form.resource, form.toStored(object), claims).then(out, fail) : store.create(resource, object, claims),
    claim: (resource, object, claims) =>
      ours(resource) ? store.claim(form.resource, form.toStored(object), claims).catch(fail) : store.claim(resource, object, claims),
    checkClaims: (resource, object, claims) =>
      ours(resource)
        ? store.checkClaims(form.resource, form.toStored(object), claims).catch(fail)
        : store.checkClaims(resource, object, claims),
    update: (resource, object, precondition) =>
      ours(resource)
        ? store.update(form.resource, form.toStored(object), precondition).then(out, fail)
        : store.update(resource, object, precondition),
    delete: (resource, namespace, name, precondition) =>
      ours(resource)
        ? store.delete(form.resource, namespace, name, precondition).then(out, fail)
        : store.delete(resource, namespace, name, precondition),
    watch: (listener, options) =>
      ours(options.resource)
        ? store.watch((change) => listener({ ...change, object: out(change.object) }), { ...options, resource: form.resource })
        : store.watch(listener, options),
    currentResourceVersion: () => store.currentResourceVersion(),
  };
}
