// The Kubernetes side in a cluster (DESIGN.md, Where state lives): Namespaces, Services and Secrets read and
// written through the cluster's API with the server's own identity, Secrets watched, and Events recorded there
// as events.k8s.io/v1. Local mode keeps the same objects in its store (reconcile/kinds/core.ts). Leases for leader
// election are the cluster's only.
import { hostname } from 'node:os';
import {
  ApiException,
  CoreV1Api,
  EventsV1Api,
  KubernetesObjectApi,
  Watch,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { failureOf } from './delegation.ts';
import { eventMessage, eventName, objectReference, type EventRecorder } from './events.ts';
import { reflect } from './reflector.ts';
import { watchedNamespaces } from './namespaces.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import type { CoreObjects, ObjectAccess, SecretChanges } from './types.ts';
import { microTime } from '../../lib/time.ts';

function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

async function absentWhenNotFound<T>(read: Promise<T>): Promise<T | undefined> {
  return read.catch((error: unknown) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
}

/** More names than this are read by one list of the namespace. */
const fewNames = 8;

/** One kind's objects in the cluster (core v1 unless another apiVersion is given). */
function clusterAccess(api: KubernetesObjectApi, kind: string, apiVersion = 'v1'): ObjectAccess {
  const ref = (namespace: string, name: string): KubernetesObject => ({ apiVersion, kind, metadata: { name, namespace } });
  const asKube = (object: KubernetesObject) => object as unknown as KubeObject;
  const withKind = (object: KubeObject) => ({ ...object, apiVersion, kind }) as KubernetesObject;
  const get = async (namespace: string, name: string) => {
    const object = await absentWhenNotFound(api.read(ref(namespace, name) as KubernetesObject & { metadata: { name: string } }));
    return object && asKube(object);
  };
  const list = async (namespace: string) => (await api.list(apiVersion, kind, namespace)).items.map(asKube);
  return {
    get,
    list,
    // A few names are read one by one; many, by one list of the namespace.
    named: async (namespace, names) =>
      names.length <= fewNames
        ? (await Promise.all(names.map((name) => get(namespace, name)))).filter((o) => o !== undefined)
        : (await list(namespace)).filter((o) => names.includes(o.metadata.name)),
    create: async (object) => asKube(await api.create(withKind(object))),
    replace: async (object) => asKube(await api.replace(withKind(object))),
    delete: async (namespace, name) => {
      await absentWhenNotFound(api.delete(ref(namespace, name)));
    },
  };
}

/**
 * The config, asking for PartialObjectMetadata: a watch of every Secret in the cluster then carries names and
 * resourceVersions, never a Secret's data (client-node's Watch takes no Accept header of its own).
 */
function metadataOnly(config: KubeConfig): KubeConfig {
  const accept = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
  return Object.create(config, {
    applyToFetchOptions: {
      value: (options: Parameters<KubeConfig['applyToFetchOptions']>[0]) =>
        config.applyToFetchOptions({ ...options, headers: { ...options.headers, Accept: accept } }),
    },
  }) as KubeConfig;
}

/**
 * The cluster's Secret changes, from the resourceVersion of a list that matches nothing on (reflector.ts); after
 * a gap the watch could not replay, missed() says so. Events hold metadata only (metadataOnly).
 */
function watchClusterSecrets(config: KubeConfig, changes: SecretChanges): { stop(): void } {
  const core = config.makeApiClient(CoreV1Api);
  return reflect(new Watch(metadataOnly(config)), '/api/v1/secrets', {
    list: async (again) => {
      // A list that matches nothing ('-' is no object's name) gives the resourceVersion and no Secret's data.
      const list = await core.listSecretForAllNamespaces({ fieldSelector: 'metadata.name=-', limit: 1 });
      if (again) changes.missed();
      return list.metadata?.resourceVersion;
    },
    changed: (_type, object) => changes.changed(object.metadata.namespace ?? '', object.metadata.name),
    open: (now) => changes.following?.(now),
    failed: (error, failures) => changes.failed(new Error(failureOf(error)), failures),
  });
}

/** `watchFailed` hears of a failure of the Namespace watch (namespaces.ts), which recovers by itself. */
export function clusterCore(config: KubeConfig, watchFailed: (error: unknown, failures: number) => void): CoreObjects & { stop(): void } {
  const api = KubernetesObjectApi.makeApiClient(config);
  const namespaces = watchedNamespaces(
    config,
    async (name) => {
      const object = await absentWhenNotFound(api.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
      return object && (object as unknown as KubeObject);
    },
    watchFailed,
  );
  return {
    namespace: (name, fresh) => namespaces.get(name, fresh),
    stop: () => namespaces.stop(),
    services: clusterAccess(api, 'Service'),
    secrets: clusterAccess(api, 'Secret'),
    endpointSlices: clusterAccess(api, 'EndpointSlice', 'discovery.k8s.io/v1'),
    watchSecrets: (changes) => watchClusterSecrets(config, changes),
  };
}

/** Leases (coordination.k8s.io/v1), for leader election. */
export function clusterLeases(config: KubeConfig): ObjectAccess {
  return clusterAccess(KubernetesObjectApi.makeApiClient(config), 'Lease', 'coordination.k8s.io/v1');
}

/** Events recorded in the cluster; recording never fails the work it reports on. */
export function clusterEvents(config: KubeConfig, onError: (error: unknown) => void): EventRecorder {
  const api = config.makeApiClient(EventsV1Api);
  const instance = hostname();
  return {
    async record(object, type, reason, message) {
      const namespace = object.metadata.namespace || 'default';
      const body = {
        metadata: { name: eventName(object), namespace },
        eventTime: microTime(new Date()) as unknown as Date,
        reportingController: 'postgres.databases.dinhloc.dev/apiserver',
        reportingInstance: instance,
        action: type === 'Normal' ? 'Reconcile' : 'Fail',
        type,
        reason,
        note: eventMessage(message),
        regarding: objectReference(object),
      };
      await api.createNamespacedEvent({ namespace, body }).catch(onError);
    },
  };
}
