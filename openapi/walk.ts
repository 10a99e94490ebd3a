// The one place that knows how schemas nest (properties, map values, list items), and the two walks built on it:
// over a schema alone (documents, descriptions) and over a value beside its schema (unknown fields, defaults).
import { isFixedOnceCreated, isImmutable, type ListKeys, type Schema } from './schema.ts';
import { isObject } from '../lib/guards.ts';

/** Kubernetes field paths: `spec.permissions[0].schemas`. */
export function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/** The schema of the child `key` of a value with this schema; undefined for a field the schema does not know. */
export function childSchema(schema: Schema, key: string | number): Schema | undefined {
  if (typeof key === 'number') return schema.items;
  if (schema.properties && Object.hasOwn(schema.properties, key)) return schema.properties[key];
  return schema.additionalProperties;
}

/** An object schema that lists its fields; one without (metadata here) keeps whatever it holds. */
export function listsFields(schema: Schema): boolean {
  return schema.type === 'object' && schema.properties !== undefined && schema.additionalProperties === undefined;
}

/** Every named field under `schema`, depth first, with its path (list items and map values included). */
export function fieldsOf(schema: Schema, path = ''): { path: string; schema: Schema }[] {
  const nested = [
    ...(schema.items ? fieldsOf(schema.items, `${path}[]`) : []),
    ...(schema.additionalProperties ? fieldsOf(schema.additionalProperties, `${path}{}`) : []),
  ];
  const own = Object.entries(schema.properties ?? {}).flatMap(([key, child]) => {
    const at = fieldPath(path, key);
    return [{ path: at, schema: child }, ...fieldsOf(child, at)];
  });
  return [...own, ...nested];
}

/** The keyed lists under `schema` (x-kubernetes-list-type: map), their paths starting at `root`. */
export function listMapKeys(schema: Schema, root: string): ListKeys {
  return Object.fromEntries(
    fieldsOf(schema, root)
      .filter((field) => field.schema['x-kubernetes-list-type'] === 'map')
      .map((field) => [field.path.replaceAll('[]', ''), (field.schema['x-kubernetes-list-map-keys'] as string[])[0]!]),
  );
}

/** The paths of the fields that pass `marked` under `schema`, starting at `root`; none inside lists or maps. */
function markedFields(schema: Schema, root: string, marked: (schema: Schema) => boolean): string[] {
  return fieldsOf(schema, root)
    .filter((field) => marked(field.schema) && !/\[\]|\{\}/.test(field.path))
    .map((field) => field.path);
}

/** The fields marked immutable (`immutable`). */
export function immutableFields(schema: Schema, root: string): string[] {
  return markedFields(schema, root, isImmutable);
}

/** The fields immutable once the object exists in PostgreSQL (`fixedOnceCreated`). */
export function fixedOnceCreatedFields(schema: Schema, root: string): string[] {
  return markedFields(schema, root, isFixedOnceCreated);
}

/** A copy of the schema with every sub-schema passed through `each` (children first). */
export function mapSchema(schema: Schema, each: (schema: Schema) => Schema): Schema {
  const copy: Schema = { ...schema };
  if (schema.properties) {
    copy.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, mapSchema(v, each)]));
  }
  if (schema.items) copy.items = mapSchema(schema.items, each);
  if (schema.additionalProperties) copy.additionalProperties = mapSchema(schema.additionalProperties, each);
  return each(copy);
}

export type JsonObject = Record<string, unknown>;

/** Called on each object the schema describes, before its fields are visited; returns the object to keep. */
export type ObjectStep = (value: JsonObject, schema: Schema, path: string) => JsonObject;

/** A copy of `value` where `step` has rewritten every object the schema describes, top down. */
export function rewrite(value: unknown, schema: Schema, step: ObjectStep, path = ''): unknown {
  if (Array.isArray(value)) {
    const items = schema.type === 'array' ? schema.items : undefined;
    return items ? value.map((item, i) => rewrite(item, items, step, fieldPath(path, i))) : value;
  }
  if (!isObject(value) || schema.type !== 'object') return value;
  const kept = step(value, schema, path);
  return Object.fromEntries(
    Object.entries(kept).map(([key, child]) => {
      const sub = childSchema(schema, key);
      return [key, sub ? rewrite(child, sub, step, fieldPath(path, key)) : child];
    }),
  );
}
