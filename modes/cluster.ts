// Cluster mode (DESIGN.md, Modes): behind kube-apiserver's aggregator. Who asks is decided by delegated
// authentication (front-proxy certificates, client certificates, TokenReview) and SubjectAccessReview;
// Namespaces, Services, Secrets and Events are the cluster's; the object store is a PostgreSQL database
// that every replica shares. The DatabaseClusters' loops are shared by shard Leases (reconcile/shards.ts); the
// replica holding the Lease `postgres-apiserver` does what one replica does for all: the store's retention.
import { existsSync, readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { KeptAliveKubeConfig } from '../storage/kubernetes/keptalive.ts';
import { defaultRetention } from '../reconcile/retention.ts';
import { ObjectStore } from '../storage/objects/store.ts';
import { LeaseElection, replicaIdentity } from '../reconcile/lease.ts';
import { ShardElection } from '../reconcile/shards.ts';
import { delegatedAuthentication, subjectAccessReviewAuthorization } from '../apiserver/delegated.ts';
import { followCertificate, readCertificate } from '../apiserver/certfiles.ts';
import { clusterCore, clusterEvents, clusterLeases } from '../storage/kubernetes/cluster.ts';
import { failure, type Logger } from '../lib/log.ts';
import { startServer, Stops, type RunningServer } from './server.ts';

export interface ClusterModeOptions {
  port: number;
  bindAddress: string;
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  storeDsn: string;
  /** A kubeconfig file; default: KUBECONFIG, else the in-cluster ServiceAccount. */
  kubeconfig?: string;
  resyncIntervalMs: number;
  /** Where the Leases live (the leader's, the shards'); default: the namespace this pod runs in, else postgres-apiserver. */
  leaseNamespace?: string;
  log: Logger;
}

const leaseName = 'postgres-apiserver';
const podNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function leaseNamespace(given: string | undefined): string {
  if (given) return given;
  return existsSync(podNamespaceFile) ? readFileSync(podNamespaceFile, 'utf8').trim() : 'postgres-apiserver';
}

function kubeConfig(file: string | undefined): KubeConfig {
  const config = new KeptAliveKubeConfig();
  if (file) config.loadFromFile(file);
  else config.loadFromDefault();
  return config;
}

export async function startClusterMode(options: ClusterModeOptions): Promise<RunningServer> {
  const { log } = options;
  const config = kubeConfig(options.kubeconfig);
  const files = { cert: options.tlsCertFile, key: options.tlsPrivateKeyFile };
  const tls = readCertificate(files);
  if (!tls) throw new Error(`${files.cert} and ${files.key} do not hold a certificate and its key`);
  const stops = new Stops(log);
  try {
    const authentication = await delegatedAuthentication(config, log);
    stops.add(async () => authentication.stop());
    const store = await ObjectStore.open(options.storeDsn);
    stops.add(() => store.close());
    const core = clusterCore(config, (error, failures) => {
      if (failures === 1) log.warn(failure(error), 'watching Namespaces failed; retrying with backoff');
    });
    stops.add(async () => core.stop());
    const leases = { leases: clusterLeases(config), namespace: leaseNamespace(options.leaseNamespace), identity: replicaIdentity(), log };
    const server = await startServer(
      {
        store,
        election: new LeaseElection({ ...leases, name: leaseName }),
        shards: new ShardElection({ ...leases, prefix: leaseName }),
        core,
        events: (onError) => clusterEvents(config, onError),
        authenticate: authentication,
        authorize: subjectAccessReviewAuthorization(config, log),
        tls,
        port: options.port,
        host: options.bindAddress,
        resyncIntervalMs: options.resyncIntervalMs,
        // Events are the cluster's: kube-apiserver expires them.
        retention: { ...defaultRetention, eventTtlMs: undefined },
        log,
      },
      stops,
    );
    const following = followCertificate(files, tls, (renewed) => server.replaceCertificate(renewed), log);
    stops.add(async () => following.stop());
    return server;
  } catch (error) {
    await stops.run();
    throw error;
  }
}
