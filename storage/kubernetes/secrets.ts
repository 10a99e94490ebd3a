// Secrets as the kinds use them: decoded values with the resourceVersion they were read at, a generated
// password Secret, and the connection Secrets this server writes (never over one it did not make).
import type { KubeObject } from '../../openapi/objects.ts';
import type { ObjectAccess, SecretData, SecretReader } from './types.ts';
import { hasLabels } from '../../lib/labels.ts';

function encoded(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
}

function decoded(secret: KubeObject): SecretData {
  const data = Object.fromEntries(
    Object.entries((secret.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
  return {
    data,
    resourceVersion: String(secret.metadata.resourceVersion),
    labels: { ...(secret.metadata.labels as Record<string, string> | undefined) },
  };
}

function secretObject(namespace: string, name: string, data: Record<string, string>, labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, ...(labels ? { labels } : {}) },
    type: 'Opaque',
    data: encoded(data),
  };
}

export function secretReader(secrets: ObjectAccess): SecretReader {
  return {
    async read(namespace, name) {
      const secret = await secrets.get(namespace, name);
      return secret && decoded(secret);
    },
    async readNamed(namespace, names) {
      return new Map((await secrets.named(namespace, names)).map((secret) => [secret.metadata.name, decoded(secret)]));
    },
    async create(namespace, name, data) {
      const created = await secrets.create(secretObject(namespace, name, data));
      return { resourceVersion: String(created.metadata.resourceVersion) };
    },
    async write(namespace, name, data, labels) {
      const existing = await secrets.get(namespace, name);
      if (!existing) {
        await secrets.create(secretObject(namespace, name, data, labels));
        return 'written';
      }
      if (!hasLabels(existing.metadata.labels as Record<string, string> | undefined, labels)) return 'notOurs';
      if (JSON.stringify(existing.data) !== JSON.stringify(encoded(data))) await secrets.replace({ ...existing, data: encoded(data) });
      return 'written';
    },
  };
}
