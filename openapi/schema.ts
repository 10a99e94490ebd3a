// The structural OpenAPI v3 schemas the kinds are written in (as CRDs write them), small builders that keep the
// kind files readable, and the mark that makes a sub-schema a named definition in the served documents. The
// schema is the one source of the kinds' TypeScript types too: each builder carries the type of the values it
// accepts, and Static<typeof schema> reads it.

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';

const definitionKey: unique symbol = Symbol('definition');

/** A named schema of the documents (`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`, ...). */
export interface Definition<S extends Schema = Schema> {
  name: string;
  schema: S;
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
  maximum?: number;
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

declare const staticType: unique symbol;

/** A schema that carries, for the type checker only (nothing at run time), the type of the values it accepts. */
export type Typed<T> = Schema & { readonly [staticType]?: T };

/** The TypeScript type of the values a schema accepts; `unknown` for a schema built without a type. */
export type Static<S> = S extends { readonly [staticType]?: infer T } ? (unknown extends T ? unknown : T) : unknown;

/** `{ a: 1 } & { b?: 2 }` shown as one object type. */
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The values of an object schema: its required properties, then the others as optional. */
type ObjectOf<P extends Record<string, Schema>, R extends keyof P> = Simplify<
  { -readonly [K in R]: Static<P[K]> } & { -readonly [K in Exclude<keyof P, R>]?: Static<P[K]> }
>;

type Extra = Omit<Schema, 'type' | 'description' | 'properties' | 'items' | 'enum'>;

/** A string; with `enum`, one of those strings. */
export function text<const E extends string = string>(description: string, extra: Extra & { enum?: readonly E[] } = {}): Typed<E> {
  return { type: 'string', description, ...extra };
}

export function integer(description: string, extra: Extra = {}): Typed<number> {
  return { type: 'integer', format: 'int32', description, ...extra };
}

export function boolean(description: string, extra: Extra = {}): Typed<boolean> {
  return { type: 'boolean', description, ...extra };
}

export function object<const P extends Record<string, Schema>, const R extends keyof P & string = never>(
  description: string,
  properties: P,
  required: readonly R[] = [],
): Typed<ObjectOf<P, R>> {
  return { type: 'object', description, properties, ...(required.length > 0 ? { required: [...required] } : {}) };
}

export function array<I extends Schema>(description: string, items: I): Typed<Static<I>[]> {
  return { type: 'array', description, items };
}

/**
 * A list whose items are merged by `key` (server-side apply, strategic merge): `x-kubernetes-list-type: map`,
 * as a CRD declares it. The key must be a required field of the items.
 */
export function keyedList<I extends Schema>(description: string, items: I, key: string): Typed<Static<I>[]> {
  if (!items.required?.includes(key)) throw new Error(`the key "${key}" of a keyed list must be a required field of its items`);
  return { ...array(description, items), 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [key] };
}

/** The key of each keyed list, by the list's path without list steps (`spec.permissions.schemas` → `name`). */
export type ListKeys = Readonly<Record<string, string>>;

/** A field that may not change once set, marked as a CRD marks it: `x-kubernetes-validations: self == oldSelf`. */
export function immutable<S extends Schema>(schema: S): S {
  return { ...schema, 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'field is immutable' }] };
}

/**
 * A setting PostgreSQL takes only when it creates the object (a database's template, encoding): it may change
 * while the object was never created, and is immutable once it exists. No CEL rule can say so (it depends on
 * status), so the mark is this server's own.
 */
export function fixedOnceCreated<S extends Schema>(schema: S): S {
  return { ...schema, [fixedOnceCreatedMark]: true };
}

export const fixedOnceCreatedMark = 'x-postgres-apiserver-fixed-once-created';

export function isFixedOnceCreated(schema: Schema): boolean {
  return schema[fixedOnceCreatedMark] === true;
}

export function isImmutable(schema: Schema): boolean {
  const rules = schema['x-kubernetes-validations'];
  return Array.isArray(rules) && rules.some((r: { rule?: string }) => r.rule === 'self == oldSelf');
}

export function map<V extends Schema>(description: string, values: V): Typed<Record<string, Static<V>>> {
  return { type: 'object', description, additionalProperties: values };
}

/**
 * `schema` where it is used, shown in documents as a $ref to `definition`. The mark survives object spread, so
 * `{ ...refersTo(d, s), description: 'this field' }` is still a reference.
 */
export function refersTo<S extends Schema>(definition: Definition<S>, schema: Schema = definition.schema): S {
  return { ...schema, [definitionKey]: definition } as unknown as S;
}

export function definitionOf(schema: Schema): Definition | undefined {
  return schema[definitionKey];
}
