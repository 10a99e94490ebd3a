// /openapi/v2 (Swagger 2.0) and /openapi/v3 (discovery plus one OpenAPI 3.0 document for the group-version),
// built once from the kinds, with the hashes and ETags kube-openapi's handlers serve (uppercase hex SHA-512).
import { createHash } from 'node:crypto';
import type { OpenAPIV2, OpenAPIV3 } from 'openapi-types';
import { kinds } from './index.ts';
import { group, version, type KindDescriptor } from './kind.ts';
import {
  documented,
  friendlyGroup,
  gvk,
  listDefinition,
  pathsOf,
  sharedDefinitions,
  type DocumentedKind,
  type Operation,
  type Parameter,
  type PathItem,
} from './operations.ts';
import { definitionOf, type Definition, type Schema } from './schema.ts';
import { mapSchema } from './walk.ts';

/** What kube-apiserver adds to every operation: its verb and the kind it acts on. */
interface KubernetesOperation {
  'x-kubernetes-action': Operation['action'];
  'x-kubernetes-group-version-kind': ReturnType<typeof gvk>;
}

/** An operation's parameters, body and responses, as one version of OpenAPI writes them. */
type OperationBody<Op> = Omit<Op, 'tags' | 'description' | 'operationId' | keyof KubernetesOperation>;

/** How a version of OpenAPI writes references, parameters and bodies. */
interface Dialect<Param, Op> {
  reference(name: string, description?: string): Schema;
  parameter(parameter: Parameter): Param;
  operation(operation: Operation, ref: (definition: Definition) => Schema): OperationBody<Op>;
}

type V2Dialect = Dialect<OpenAPIV2.Parameter, OpenAPIV2.OperationObject<KubernetesOperation>>;
type V3Dialect = Dialect<OpenAPIV3.ParameterObject, OpenAPIV3.OperationObject<KubernetesOperation>>;

/** Our schemas are OpenAPI schemas with Kubernetes' x- marks; openapi-types' v3 schema has no place for those. */
const v3Schema = (schema: Schema) => schema as OpenAPIV3.SchemaObject;
const v2Schema = (schema: Schema) => schema as OpenAPIV2.SchemaObject;

/** Swagger 2.0: a field's description beside its $ref, as kube-apiserver writes it; bodies are parameters. */
const v2: V2Dialect = {
  reference: (name, description) => ({ ...(description ? { description } : {}), $ref: `#/definitions/${name}` }),
  parameter: ({ name, in: where, type, description }) => ({
    name,
    in: where,
    type,
    uniqueItems: true,
    description,
    ...(where === 'path' ? { required: true } : {}),
  }),
  operation: (op, ref) => ({
    ...(op.body ? { consumes: [...op.body.contentTypes] } : {}),
    produces: [...op.produces],
    schemes: ['https'],
    parameters: [
      ...(op.body ? [{ name: 'body', in: 'body', required: op.method !== 'delete', schema: v2Schema(ref(op.body.definition)) }] : []),
      ...op.query.map(v2.parameter),
    ],
    responses: {
      ...Object.fromEntries(
        Object.entries(op.responses).map(([code, r]) => [code, { description: r.description, schema: v2Schema(ref(r.definition)) }]),
      ),
      401: { description: 'Unauthorized' },
    },
  }),
};

/** OpenAPI 3.0: a field's description beside allOf [$ref], as kube-apiserver writes it; bodies per content type. */
const v3: V3Dialect = {
  reference: (name, description) =>
    description ? { description, allOf: [{ $ref: `#/components/schemas/${name}` }] } : { $ref: `#/components/schemas/${name}` },
  parameter: ({ name, in: where, type, description }) => ({
    name,
    in: where,
    description,
    ...(where === 'path' ? { required: true } : {}),
    schema: { type, uniqueItems: true },
  }),
  operation: (op, ref) => {
    const content = (types: readonly string[], definition: Definition): Record<string, OpenAPIV3.MediaTypeObject> =>
      Object.fromEntries(types.map((t) => [t, { schema: v3Schema(ref(definition)) }]));
    return {
      parameters: op.query.map(v3.parameter),
      ...(op.body ? { requestBody: { content: content(op.body.contentTypes, op.body.definition), required: op.method !== 'delete' } } : {}),
      responses: {
        ...Object.fromEntries(
          Object.entries(op.responses).map(([code, r]) => [
            code,
            { description: r.description, content: content(op.produces, r.definition) },
          ]),
        ),
        401: { description: 'Unauthorized' },
      },
    };
  },
};

function sortedByKey<T>(entries: [string, T][]): Record<string, T> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Collects the definitions documents refer to, and writes each marked sub-schema as a reference. */
class Definitions {
  private readonly found = new Map<string, Definition>();

  constructor(private readonly dialect: Pick<V2Dialect | V3Dialect, 'reference'>) {}

  ref = (definition: Definition, description?: string): Schema => {
    this.found.set(definition.name, definition);
    return this.dialect.reference(definition.name, description);
  };

  /** The schema with each marked sub-schema as a reference, keeping the field's own description. */
  schema(schema: Schema): Schema {
    return mapSchema(schema, (node) => {
      const definition = definitionOf(node);
      if (!definition) return node;
      return this.ref(definition, node.description === definition.schema.description ? undefined : node.description);
    });
  }

  /** Every definition referred to so far, and those they refer to. */
  all(): Record<string, Schema> {
    const written = new Map<string, Schema>();
    for (let next = this.pending(written); next; next = this.pending(written)) written.set(next.name, this.schema(next.schema));
    return sortedByKey([...written]);
  }

  private pending(written: Map<string, Schema>): Definition | undefined {
    return [...this.found.values()].find((d) => !written.has(d.name));
  }
}

/** postgresDatabasesDinhlocDev_v1alpha1 (events_v1), as kube-apiserver tags a group-version's operations. */
function tagOf(kind: DocumentedKind): string {
  return `${friendlyGroup(kind.group).replace(/\.(\w)/g, (_, letter: string) => letter.toUpperCase())}_${kind.version}`;
}

function pathsDocument<Param, Op>(items: PathItem[], dialect: Dialect<Param, Op>, definitions: Definitions): Record<string, object> {
  return sortedByKey(
    items.map((item) => {
      const operations = item.operations.map((op) => [
        op.method,
        {
          tags: [tagOf(item.kind)],
          description: op.description,
          operationId: op.operationId,
          ...dialect.operation(op, definitions.ref),
          'x-kubernetes-action': op.action,
          'x-kubernetes-group-version-kind': gvk(item.kind),
        },
      ]);
      const parameters = item.parameters.length > 0 ? { parameters: item.parameters.map(dialect.parameter) } : {};
      return [item.path, { ...Object.fromEntries(operations), ...parameters }];
    }),
  );
}

function collect(list: readonly DocumentedKind[], definitions: Definitions) {
  for (const d of [...sharedDefinitions, ...list.flatMap((k) => [k.definition, listDefinition(k)])]) definitions.ref(d);
  return list.flatMap(pathsOf);
}

/** A document's title and version. */
export interface DocumentInfo {
  title: string;
  version: string;
}

const info: DocumentInfo = { title: 'postgres-apiserver', version: 'v1alpha1' };

/** A Swagger 2.0 document of these kinds (one or more group-versions). */
export function openAPIV2Of(list: readonly DocumentedKind[], about: DocumentInfo): OpenAPIV2.Document<KubernetesOperation> {
  const definitions = new Definitions(v2);
  const paths = pathsDocument(collect(list, definitions), v2, definitions) as OpenAPIV2.PathsObject<KubernetesOperation>;
  return { swagger: '2.0', info: about, paths, definitions: definitions.all() as OpenAPIV2.DefinitionsObject };
}

/** An OpenAPI 3.0 document of these kinds (of one group-version, as /openapi/v3/<path> serves it). */
export function openAPIV3Of(list: readonly DocumentedKind[], about: DocumentInfo): OpenAPIV3.Document<KubernetesOperation> {
  const definitions = new Definitions(v3);
  const paths = pathsDocument(collect(list, definitions), v3, definitions) as OpenAPIV3.PathsObject<KubernetesOperation>;
  return {
    openapi: '3.0.0',
    info: about,
    paths,
    components: { schemas: definitions.all() as Record<string, OpenAPIV3.SchemaObject> },
  };
}

/** The Swagger 2.0 document kube-apiserver's aggregator downloads from /openapi/v2. */
export function buildOpenAPIV2(list: readonly KindDescriptor[]): OpenAPIV2.Document<KubernetesOperation> {
  return openAPIV2Of(list.map(documented), info);
}

/** The OpenAPI 3.0 document of the group-version (kubectl explain, field validation support, apply). */
export function buildOpenAPIV3(list: readonly KindDescriptor[]): OpenAPIV3.Document<KubernetesOperation> {
  return openAPIV3Of(list.map(documented), info);
}

export interface ServedDocument {
  /** The exact bytes to send (UTF-8). */
  json: string;
  /** Uppercase hex SHA-512 of `json`, as kube-openapi computes it. */
  hash: string;
  /** `"<hash>"`, for ETag and If-None-Match. */
  etag: string;
}

export function serve(document: unknown): ServedDocument {
  const json = JSON.stringify(document);
  const hash = createHash('sha512').update(json).digest('hex').toUpperCase();
  return { json, hash, etag: `"${hash}"` };
}

/** The key of our group-version in the v3 discovery document, and its path under /openapi/v3/. */
export const groupVersionPath = `apis/${group}/${version}`;

/** /openapi/v3: each group-version's URL, with the hash of its document so clients can cache it for good. */
export function buildOpenAPIV3Discovery(groupVersions: Record<string, ServedDocument>): object {
  return {
    paths: sortedByKey(
      Object.entries(groupVersions).map(([path, d]) => [path, { serverRelativeURL: `/openapi/v3/${path}?hash=${d.hash}` }]),
    ),
  };
}

interface Served {
  v2: ServedDocument;
  v3: Record<string, ServedDocument>;
  v3Discovery: ServedDocument;
}

let served: Served | undefined;

/** The documents are static: built on first use, then the same bytes and ETags every time. */
function documents(): Served {
  if (!served) {
    const list = Object.values(kinds);
    const v3 = { [groupVersionPath]: serve(buildOpenAPIV3(list)) };
    served = { v2: serve(buildOpenAPIV2(list)), v3, v3Discovery: serve(buildOpenAPIV3Discovery(v3)) };
  }
  return served;
}

/** /openapi/v2 with Kubernetes kinds beside ours (local mode's events.k8s.io/v1 Event), in one document. */
export function openAPIV2With(extra: readonly DocumentedKind[]): ServedDocument {
  return serve(openAPIV2Of([...Object.values(kinds).map(documented), ...extra], info));
}

/** GET /openapi/v2 */
export function openAPIV2(): ServedDocument {
  return documents().v2;
}

/** GET /openapi/v3 */
export function openAPIV3Discovery(): ServedDocument {
  return documents().v3Discovery;
}

/**
 * GET /openapi/v3/<path>, e.g. `apis/postgres.databases.dinhloc.dev/v1alpha1`; undefined (404) for another path.
 * A request whose `hash` differs from the document's gets a 301 to the current URL, as kube-openapi answers.
 */
export function openAPIV3GroupVersion(path: string): ServedDocument | undefined {
  const all = documents().v3;
  return Object.hasOwn(all, path) ? all[path] : undefined;
}
