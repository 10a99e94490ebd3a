// Whom to trust, as kube-apiserver publishes it in ConfigMap kube-system/extension-apiserver-authentication
// (K8S-WIRE §7): the client CA, and the front-proxy CA with the headers it fills. Read at start, then followed
// with a watch and re-read every minute; each change replaces the parsed config whole.
import { X509Certificate } from 'node:crypto';
import { CoreV1Api, Watch, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { failureOf } from '../storage/kubernetes/delegation.ts';
import { keepWatching } from '../lib/rewatch.ts';
import type { Logger } from '../lib/log.ts';

export interface RequestHeaderConfig {
  /** The CAs a front proxy's client certificate must chain to. */
  ca: readonly X509Certificate[];
  usernameHeaders: readonly string[];
  uidHeaders: readonly string[];
  groupHeaders: readonly string[];
  extraHeaderPrefixes: readonly string[];
  /** Common names a front proxy's certificate may have; empty means any the CAs signed. */
  allowedNames: readonly string[];
}

export interface AuthenticationConfig {
  /** CAs of client certificates that name their user directly (CN, groups from O); empty means none. */
  clientCA: readonly X509Certificate[];
  /** Absent when the cluster has no front proxy configured. */
  requestHeader?: RequestHeaderConfig;
}

export const authenticationConfigMap = { namespace: 'kube-system', name: 'extension-apiserver-authentication' } as const;

const pemCertificate = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle; a bundle holding none, or one that does not parse, is an error. */
function parseCertificates(pem: string | undefined, key: string): X509Certificate[] {
  if (!pem?.trim()) return [];
  const blocks = pem.match(pemCertificate) ?? [];
  if (blocks.length === 0) throw new Error(`${key} holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new Error(`${key}: certificate ${i + 1} does not parse`);
    }
  });
}

/** A JSON array of strings (`["X-Remote-User"]`); empty or missing means none. */
function parseStringList(value: string | undefined, key: string): string[] {
  if (!value?.trim()) return [];
  let list: unknown;
  try {
    list = JSON.parse(value);
  } catch {
    throw new Error(`${key} is not JSON`);
  }
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) throw new Error(`${key} is not a JSON array of strings`);
  return list;
}

/** The config the ConfigMap's data describes; throws, naming the key, when a value does not parse. */
export function parseAuthenticationConfig(data: Readonly<Record<string, string>> | undefined): AuthenticationConfig {
  const list = (key: string) => Object.freeze(parseStringList(data?.[key], key));
  const clientCA = Object.freeze(parseCertificates(data?.['client-ca-file'], 'client-ca-file'));
  const requestHeaderCA = parseCertificates(data?.['requestheader-client-ca-file'], 'requestheader-client-ca-file');
  if (requestHeaderCA.length === 0) return Object.freeze({ clientCA });
  const requestHeader: RequestHeaderConfig = Object.freeze({
    ca: Object.freeze(requestHeaderCA),
    usernameHeaders: list('requestheader-username-headers'),
    uidHeaders: list('requestheader-uid-headers'),
    groupHeaders: list('requestheader-group-headers'),
    extraHeaderPrefixes: list('requestheader-extra-headers-prefix'),
    allowedNames: list('requestheader-allowed-names'),
  });
  return Object.freeze({ clientCA, requestHeader });
}

export interface AuthenticationConfigSource {
  /** The config as last read; a new object after every change, never one edited in place. */
  current(): AuthenticationConfig;
  stop(): void;
}

export interface FollowOptions {
  /** How often the ConfigMap is read again whatever the watch says (default: a minute). */
  resyncMs?: number;
}

const where = `ConfigMap ${authenticationConfigMap.namespace}/${authenticationConfigMap.name}`;

/** The first read: the server cannot authenticate anyone without it, so any failure is the caller's. */
async function readFirst(core: CoreV1Api): Promise<{ configMap: V1ConfigMap; config: AuthenticationConfig }> {
  const configMap = await core.readNamespacedConfigMap(authenticationConfigMap).catch((error: unknown) => {
    const hint =
      (error as { code?: number }).code === 403 ? ' (bind the Role extension-apiserver-authentication-reader in kube-system)' : '';
    throw new Error(`cannot read ${where}: ${failureOf(error)}${hint}`);
  });
  try {
    return { configMap, config: parseAuthenticationConfig(configMap.data) };
  } catch (error) {
    throw new Error(`cannot use ${where}: ${(error as Error).message}`);
  }
}

/**
 * Keeps the config current: a watch from the version last read, resumed from the last version it saw when it
 * ends, started afresh from a re-read after an ERROR (410 Gone: too old), backing off while kube-apiserver
 * fails (keepWatching); a re-read every `resyncMs` besides. A change that does not parse keeps the last good
 * config, as kube-apiserver's own controllers do.
 */
function followConfigMap(
  kc: KubeConfig,
  core: CoreV1Api,
  log: Logger,
  first: Awaited<ReturnType<typeof readFirst>>,
  resyncMs: number,
): AuthenticationConfigSource {
  let config = first.config;
  let resourceVersion = first.configMap.metadata?.resourceVersion;
  const apply = (configMap: V1ConfigMap) => {
    try {
      config = parseAuthenticationConfig(configMap.data);
    } catch (error) {
      log.warn({ reason: (error as Error).message }, `${where} changed but does not parse; keeping the last config`);
    }
  };
  const reread = async () => {
    const configMap = await core.readNamespacedConfigMap(authenticationConfigMap);
    apply(configMap);
    resourceVersion = configMap.metadata?.resourceVersion;
  };
  const onEvent = (type: string, object: V1ConfigMap) => {
    if (type === 'ADDED' || type === 'MODIFIED') apply(object);
    if (type === 'DELETED') log.warn(`${where} was deleted; keeping the last config`);
    resourceVersion = type === 'ERROR' ? undefined : object.metadata?.resourceVersion;
  };
  const watching = keepWatching(
    async (ended) => {
      if (resourceVersion === undefined) await reread();
      const query = {
        fieldSelector: `metadata.name=${authenticationConfigMap.name}`,
        resourceVersion,
        allowWatchBookmarks: true,
        // Renewed every 5 to 10 minutes, as client-go's reflectors do, so a silently dead connection does not last.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      };
      const abort = await new Watch(kc).watch(
        `/api/v1/namespaces/${authenticationConfigMap.namespace}/configmaps`,
        query,
        onEvent,
        (error: unknown) => ended(error ?? undefined),
      );
      return () => abort.abort();
    },
    (error, failures) => log.warn({ reason: failureOf(error), failures }, `cannot follow ${where}; retrying`),
  );
  const resync = setInterval(() => {
    reread().catch((error: unknown) => log.warn({ reason: failureOf(error) }, `periodic read of ${where} failed`));
  }, resyncMs);
  resync.unref();
  return {
    current: () => config,
    stop: () => {
      clearInterval(resync);
      watching.stop();
    },
  };
}

/**
 * The config of ConfigMap kube-system/extension-apiserver-authentication, kept current. Rejects when the
 * ConfigMap cannot be read or does not parse; later failures are logged and the last good config kept.
 */
export async function followAuthenticationConfig(
  kc: KubeConfig,
  log: Logger,
  options: FollowOptions = {},
): Promise<AuthenticationConfigSource> {
  const core = kc.makeApiClient(CoreV1Api);
  return followConfigMap(kc, core, log, await readFirst(core), options.resyncMs ?? 60_000);
}
