// Kinds served over TLS from a real object store in its own schema, with a small JSON client.
import { resourceRouter } from '../../apiserver/rest.ts';
import type { ResourceKind } from '../../reconcile/kinds/resource.ts';
import { ObjectStore } from '../../storage/objects/store.ts';
import type { ResourceStore } from '../../storage/objects/types.ts';
import { httpsRequest, serveApp, type RequestOptions } from './http.ts';
import { unique } from './postgres.ts';

/** `servedAs`: the store as the kinds' handlers reach it (a test that holds some of its writes back). */
export async function serveKinds(
  t: { teardown(fn: () => unknown): void },
  dsn: string,
  kinds: readonly ResourceKind[],
  servedAs: (store: ObjectStore) => ResourceStore = (store) => store,
) {
  const store = await ObjectStore.open(dsn, { schema: unique('api') });
  const served = servedAs(store);
  const app = await serveApp({ routers: kinds.map((kind) => resourceRouter(kind, served)) });
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  const call = (method: string, path: string, body?: unknown, options: RequestOptions = {}) =>
    httpsRequest(`${app.base}${path}`, app.tls.ca, {
      method,
      ...options,
      headers: { 'content-type': 'application/json', ...options.headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  return { store, app, call };
}
