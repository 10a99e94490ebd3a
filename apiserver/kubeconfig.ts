// The kubeconfig local mode writes, so that kubectl reaches this server with its CA and token.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  server: string;
  ca: string;
  token: string;
  /** Context, cluster and user name. */
  name?: string;
}

export function kubeconfig(options: KubeconfigOptions): string {
  const name = options.name ?? 'postgres-apiserver';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: options.server, 'certificate-authority-data': Buffer.from(options.ca).toString('base64') } }],
    users: [{ name, user: { token: options.token } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: 'default' } }],
    'current-context': name,
  });
}

export function writeKubeconfig(path: string, options: KubeconfigOptions): void {
  writeFileSync(path, kubeconfig(options), { mode: 0o600 });
}
