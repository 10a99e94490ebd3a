// The few core v1 kinds local mode serves itself, so the usage guide runs without a cluster (DESIGN.md,
// Modes): Namespaces, Secrets, Services and Events (events.ts). In a cluster these are the cluster's.
import { nameErrors, secretKeyErrors } from '../../openapi/names.ts';
import { storeResource, type Reclaim, type ResourceKind, type Strategy } from './resource.ts';
import { keepWatching } from '../../lib/rewatch.ts';
import { readOrUndefined } from './shared.ts';
import { ageColumn, nameColumn, stringColumn } from '../../openapi/kind.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { FieldError } from '../../openapi/fields.ts';
import type { CoreObjects, ObjectAccess, SecretChanges } from '../../storage/kubernetes/types.ts';
import type { ResourceStore } from '../../storage/objects/types.ts';
import { deleteObject } from './delete.ts';
import { NotFound } from '../../storage/objects/errors.ts';
import { events } from './events.ts';

const maxSecretBytes = 1024 * 1024;

/** No schema: core objects are stored as kubectl sends them, with their names checked. */
function schemaless(labelName: boolean, rules: Partial<Strategy> = {}): Strategy {
  return {
    unknownFields: () => [],
    prune: (o) => o,
    withDefaults: (o) => o,
    ...rules,
    validate: (o, old) => [...nameErrors(o.metadata.name, labelName), ...(rules.validate?.(o, old) ?? [])],
  };
}

function secretDefaults(secret: KubeObject): KubeObject {
  const { stringData, ...rest } = secret as KubeObject & { stringData?: Record<string, string>; data?: Record<string, string> };
  const data = { ...rest.data };
  // stringData is write-only: merged into data, never stored or returned.
  for (const [key, value] of Object.entries(stringData ?? {})) data[key] = Buffer.from(String(value), 'utf8').toString('base64');
  return { ...rest, type: rest.type ?? 'Opaque', data };
}

function secretErrors(secret: KubeObject, old: KubeObject | undefined): FieldError[] {
  const data = (secret.data ?? {}) as Record<string, unknown>;
  const errors: FieldError[] = [];
  let size = 0;
  for (const [key, value] of Object.entries(data)) {
    errors.push(...secretKeyErrors(key, `data[${key}]`));
    if (typeof value !== 'string' || Buffer.from(value, 'base64').toString('base64') !== value.replace(/\s/g, '')) {
      errors.push({ type: 'FieldValueInvalid', field: `data[${key}]`, message: 'Invalid value: must be base64 encoded' });
    } else {
      size += Buffer.from(value, 'base64').length;
    }
  }
  if (size > maxSecretBytes)
    errors.push({ type: 'FieldValueTooLong', field: 'data', message: `Too long: may not be more than ${maxSecretBytes} bytes` });
  if (old && old.type !== secret.type)
    errors.push({ type: 'FieldValueInvalid', field: 'type', message: 'Invalid value: field is immutable' });
  return errors;
}

const core = { group: '', version: 'v1', statusSubresource: false, strategicMergePatch: true } as const;

export const namespaces: ResourceKind = {
  ...core,
  kind: 'Namespace',
  plural: 'namespaces',
  singular: 'namespace',
  namespaced: false,
  statusSubresource: true,
  columns: [
    nameColumn,
    stringColumn('Status', 'The phase of the namespace.', (o) =>
      o.metadata.deletionTimestamp ? 'Terminating' : (o.status as { phase?: string } | undefined)?.phase,
    ),
    ageColumn,
  ],
  strategy: schemaless(true, { withDefaults: (o) => ({ ...o, status: { phase: 'Active' } }) }),
};

export const secrets: ResourceKind = {
  ...core,
  kind: 'Secret',
  plural: 'secrets',
  singular: 'secret',
  namespaced: true,
  columns: [
    nameColumn,
    stringColumn('Type', 'The type of the secret.', (o) => o.type),
    {
      name: 'Data',
      type: 'integer',
      priority: 0,
      description: 'The number of keys in data.',
      cell: (o) => Object.keys((o.data ?? {}) as object).length,
    },
    ageColumn,
  ],
  strategy: schemaless(false, { withDefaults: secretDefaults, validate: secretErrors }),
};

export const services: ResourceKind = {
  ...core,
  kind: 'Service',
  plural: 'services',
  singular: 'service',
  namespaced: true,
  columns: [
    nameColumn,
    stringColumn('Type', 'The type of the service.', (o) => (o.spec as { type?: string } | undefined)?.type ?? 'ClusterIP'),
    stringColumn(
      'External-IP',
      'The external name or addresses.',
      (o) => (o.spec as { externalName?: string } | undefined)?.externalName ?? '<none>',
    ),
    ageColumn,
  ],
  strategy: schemaless(true),
};

export const coreKinds: readonly ResourceKind[] = [namespaces, secrets, services, events];

/**
 * Deleting a Namespace deletes what is in it first, as kube-apiserver's namespace controller does: our kinds
 * first, through their own deletion (reclaimPolicy Delete drops what they manage, with the connection Secrets
 * still there), then the core kinds. While an object is still being dropped the Namespace stays, Terminating;
 * deleting it again once that is done removes it.
 */
function emptiedOnDelete(store: ResourceStore, content: () => readonly ResourceKind[]): Reclaim {
  return {
    finalizer: 'kubernetes',
    needed: () => true,
    run: async (namespace) => {
      const kinds = content().filter((k) => k.namespaced);
      const warnings: string[] = [];
      const request = { dryRun: false, warn: (warning: string) => warnings.push(warning), advise: () => undefined };
      for (const kind of kinds) {
        for (const object of (await store.list(storeResource(kind), { namespace: namespace.metadata.name })).items)
          await deleteObject(kind, store, object, request);
      }
      const left = (
        await Promise.all(kinds.map(async (k) => (await store.list(storeResource(k), { namespace: namespace.metadata.name })).items.length))
      ).reduce((a, b) => a + b, 0);
      if (left > 0)
        throw new Error(
          `namespace "${namespace.metadata.name}" still holds ${left} object(s) being deleted${warnings.length > 0 ? ` (${warnings.join('; ')})` : ''}`,
        );
    },
  };
}

/** The core kinds local mode serves, its Namespaces emptied before they go; `ours` are deleted first. */
export function localCoreKinds(store: ResourceStore, ours: readonly ResourceKind[]): ResourceKind[] {
  const content = () => [...[...ours].reverse(), ...coreKinds];
  return coreKinds.map((k) => (k === namespaces ? { ...k, strategy: { ...k.strategy, reclaim: emptiedOnDelete(store, content) } } : k));
}

/** One kind's objects in the store. */
function storeAccess(store: ResourceStore, resource: string): ObjectAccess {
  return {
    get: (namespace, name) => readOrUndefined(store, resource, namespace, name),
    list: async (namespace) => (await store.list(resource, { namespace })).items,
    named: async (namespace, names) =>
      (await store.find(resource, ['metadata', 'name'], names)).filter((o) => (o.metadata.namespace ?? '') === namespace),
    create: (object) => store.create(resource, object),
    replace: (object) => store.update(resource, object, { expectedResourceVersion: String(object.metadata.resourceVersion) }),
    delete: async (namespace, name) => {
      await store.delete(resource, namespace, name).catch((error: unknown) => {
        if (!(error instanceof NotFound)) throw error;
      });
    },
  };
}

/**
 * The store's Secret changes from now on; after a gap the change feed cannot replay (Expired), from then on. While
 * the watch is open it says so (following): this process's own writes reach it before they return, so the Secrets
 * read at every write (a cluster's DSN, a role's password) may be kept in memory (secretcache.ts).
 */
function watchStoreSecrets(store: ResourceStore, changes: SecretChanges): { stop(): void } {
  let gap = false;
  return keepWatching(async (ended) => {
    const stop = await store.watch(({ object }) => changes.changed(object.metadata.namespace ?? '', object.metadata.name), {
      resource: storeResource(secrets),
      onError: () => {
        gap = true;
        changes.following?.(false);
        ended();
      },
    });
    if (gap) {
      gap = false;
      changes.missed();
    }
    changes.following?.(true);
    return () => {
      changes.following?.(false);
      stop();
    };
  }, changes.failed);
}

/**
 * Namespaces, Services and Secrets as local mode keeps them: in its store. No EndpointSlices: nothing in local
 * mode resolves a Service (no cluster DNS, no proxy), so a slice would be a record that does nothing; the
 * Service of an IP host still records its port there.
 */
export function storeCore(store: ResourceStore): CoreObjects {
  const namespaceResource = storeResource(namespaces);
  return {
    namespace: (name) => readOrUndefined(store, namespaceResource, '', name),
    services: storeAccess(store, storeResource(services)),
    secrets: storeAccess(store, storeResource(secrets)),
    watchSecrets: (changes) => watchStoreSecrets(store, changes),
  };
}
