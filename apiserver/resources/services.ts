// What the kinds' rules reach beyond the request: the object store (other objects, Secrets in local mode).
import type { ResourceStore } from '../resource.ts';

export interface Services {
  store: ResourceStore;
}
