// The groups served: ours, and as local mode serves them the core v1 group (Namespaces, Secrets, Services,
// Events) with the little OpenAPI kubectl needs of it, and events.k8s.io/v1 (the same Events) with its schema.
import { kinds } from '../openapi/index.ts';
import { eventsV1Documented } from '../openapi/events.ts';
import { openAPIV3Of } from '../openapi/document.ts';
import { coreKinds } from '../reconcile/kinds/core.ts';
import { eventsV1 } from '../reconcile/kinds/events.ts';
import type { DiscoveryGroup } from './discovery.ts';
import type { OpenAPIV3 } from 'openapi-types';

const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const ourDiscovery: DiscoveryGroup = {
  group: kinds.databases.group,
  version: kinds.databases.version,
  resources: Object.values(kinds).map((k) => ({
    plural: k.plural,
    singular: k.singular,
    kind: k.kind,
    namespaced: k.namespaced,
    verbs,
    shortNames: k.shortNames,
    categories: k.categories,
    subresources: ['status'],
  })),
};

/** The short names and categories kube-apiserver gives these core resources (Services are in `kubectl get all`). */
const coreNames: Readonly<Record<string, { shortNames: string[]; categories?: string[] }>> = {
  namespaces: { shortNames: ['ns'] },
  services: { shortNames: ['svc'], categories: ['all'] },
  events: { shortNames: ['ev'] },
};

export const coreDiscovery: DiscoveryGroup = {
  group: '',
  version: 'v1',
  resources: coreKinds.map((k) => ({
    plural: k.plural,
    singular: k.singular,
    kind: k.kind,
    namespaced: k.namespaced,
    verbs,
    ...coreNames[k.plural],
  })),
};

/** events.k8s.io/v1, as local mode serves it: Events, the same objects as core v1 Events. */
export const eventsDiscovery: DiscoveryGroup = {
  group: eventsV1.group,
  version: eventsV1.version,
  resources: [{ plural: eventsV1.plural, singular: eventsV1.singular, kind: eventsV1.kind, namespaced: true, verbs, shortNames: ['ev'] }],
};

/** The path of events.k8s.io/v1's OpenAPI v3 document, under /openapi/v3/. */
export const eventsOpenAPIPath = `apis/${eventsV1.group}/${eventsV1.version}`;

/** The OpenAPI v3 document of events.k8s.io/v1: kubectl explain, and PATCH taking fieldValidation. */
export function eventsOpenAPIDocument(): OpenAPIV3.Document {
  return openAPIV3Of([eventsV1Documented], { title: 'Kubernetes events.k8s.io served in local mode', version: eventsV1.version });
}

/**
 * A minimal OpenAPI v3 document for the core kinds: what kubectl reads to know that PATCH takes
 * fieldValidation, so it validates on the server instead of asking for protobuf OpenAPI v2.
 */
export function coreOpenAPIDocument(): OpenAPIV3.Document {
  const fieldValidation: OpenAPIV3.ParameterObject = {
    name: 'fieldValidation',
    in: 'query',
    description: 'Strict, Warn or Ignore: what to do with unknown fields.',
    schema: { type: 'string', uniqueItems: true },
  };
  const paths = Object.fromEntries(
    coreKinds.map((k) => {
      const item = k.namespaced ? `/api/v1/namespaces/{namespace}/${k.plural}/{name}` : `/api/v1/${k.plural}/{name}`;
      const patch: OpenAPIV3.OperationObject<{ 'x-kubernetes-action': string; 'x-kubernetes-group-version-kind': object }> = {
        description: `partially update the specified ${k.kind}`,
        operationId: `patchCoreV1${k.kind}`,
        parameters: [fieldValidation],
        requestBody: {
          content: Object.fromEntries(
            ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'].map((t) => [
              t,
              { schema: { type: 'object' as const } },
            ]),
          ),
        },
        responses: { '200': { description: 'OK' } },
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: '', version: 'v1', kind: k.kind },
      };
      return [item, { patch }];
    }),
  );
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes core kinds served in local mode', version: 'v1' },
    paths,
    components: { schemas: {} },
  };
}
