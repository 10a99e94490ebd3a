// The structural OpenAPI v3 schemas the kinds are written in (as CRDs write them), small builders that keep the
// kind files readable, and the mark that makes a sub-schema a named definition in the served documents.

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';

const definitionKey: unique symbol = Symbol('definition');

/** A named schema of the documents (`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`, ...). */
export interface Definition {
  name: string;
  schema: Schema;
}

export interface Schema {
  type?: SchemaType;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  /** A map: every value has this schema. */
  additionalProperties?: Schema;
  items?: Schema;
  enum?: readonly string[];
  default?: unknown;
  format?: string;
  minimum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  /** Only in served documents. */
  $ref?: string;
  allOf?: Schema[];
  [extension: `x-${string}`]: unknown;
  /** Documents show a $ref to this definition where the schema stands; validation reads the schema itself. */
  [definitionKey]?: Definition;
}

type Extra = Omit<Schema, 'type' | 'description' | 'properties' | 'items'>;

export function text(description: string, extra: Extra = {}): Schema {
  return { type: 'string', description, ...extra };
}

export function integer(description: string, extra: Extra = {}): Schema {
  return { type: 'integer', format: 'int32', description, ...extra };
}

export function boolean(description: string, extra: Extra = {}): Schema {
  return { type: 'boolean', description, ...extra };
}

export function object(description: string, properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', description, properties, ...(required.length > 0 ? { required } : {}) };
}

export function array(description: string, items: Schema): Schema {
  return { type: 'array', description, items };
}

/**
 * A list whose items are merged by `key` (server-side apply, strategic merge): `x-kubernetes-list-type: map`,
 * as a CRD declares it. The key must be a required field of the items.
 */
export function keyedList(description: string, items: Schema, key: string): Schema {
  if (!items.required?.includes(key)) throw new Error(`the key "${key}" of a keyed list must be a required field of its items`);
  return { ...array(description, items), 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [key] };
}

/** The key of each keyed list, by the list's path without list steps (`spec.permissions.schemas` → `name`). */
export type ListKeys = Readonly<Record<string, string>>;

/** A field that may not change once set, marked as a CRD marks it: `x-kubernetes-validations: self == oldSelf`. */
export function immutable(schema: Schema): Schema {
  return { ...schema, 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'field is immutable' }] };
}

export function isImmutable(schema: Schema): boolean {
  const rules = schema['x-kubernetes-validations'];
  return Array.isArray(rules) && rules.some((r: { rule?: string }) => r.rule === 'self == oldSelf');
}

export function map(description: string, values: Schema): Schema {
  return { type: 'object', description, additionalProperties: values };
}

/**
 * `schema` where it is used, shown in documents as a $ref to `definition`. The mark survives object spread, so
 * `{ ...refersTo(d, s), description: 'this field' }` is still a reference.
 */
export function refersTo(definition: Definition, schema: Schema = definition.schema): Schema {
  return { ...schema, [definitionKey]: definition };
}

export function definitionOf(schema: Schema): Definition | undefined {
  return schema[definitionKey];
}
