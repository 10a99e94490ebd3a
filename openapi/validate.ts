// Requests against the kinds' schemas, in the order kube-apiserver handles a custom resource: unknown fields
// (reported or refused per fieldValidation, then pruned), defaults, then validation, every fault with its field
// path and a kube-apiserver message. metadata is only checked to be an object: ObjectMeta is the server's job.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { durationPattern } from './common.ts';
import { objectSchema, type KindDescriptor } from './kind.ts';
import { fixedOnceCreatedMark, type Schema } from './schema.ts';
import { fieldPath, listsFields, rewrite, type JsonObject } from './walk.ts';
import type { FieldError } from './fields.ts';
import { isObject } from '../lib/guards.ts';

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
// ajv-formats is CommonJS: under NodeNext its plugin is the default export's `default`. Its "duration" is ISO 8601
// (P1D); Kubernetes durations are Go's (30s).
formats.default(ajv, ['date-time', 'int32', 'int64']);
ajv.addFormat('duration', durationPattern);
// Marks for other readers: server-side apply reads the list keys, updates read immutability (reconcile/kinds/kind.ts).
for (const keyword of ['x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-validations', fixedOnceCreatedMark])
  ajv.addKeyword({ keyword });

interface Compiled {
  /** The whole object, status included: unknown fields and defaults. */
  schema: Schema;
  /** Create and update of the main resource: status is not the client's to write there. */
  spec: ValidateFunction;
  /** Writes through the status subresource. */
  status: ValidateFunction;
}

const compiled = new WeakMap<KindDescriptor, Compiled>();

function compiledFor(kind: KindDescriptor): Compiled {
  let found = compiled.get(kind);
  if (!found) {
    const schema = objectSchema(kind);
    found = { schema, spec: ajv.compile(objectSchema(kind, {})), status: ajv.compile(schema) };
    compiled.set(kind, found);
  }
  return found;
}

/** Go's %v / %q of a bad value, as field errors print it. */
function shown(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value ?? null);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** ajv's JSON pointer as a Kubernetes field path, reading the data to tell list indexes from keys. */
function pathOf(pointer: string, data: unknown): string {
  let path = '';
  let node = data;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    path = Array.isArray(node) ? fieldPath(path, Number(key)) : fieldPath(path, key);
    node = isObject(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
  }
  return path;
}

/** One ajv error as kube-apiserver words it (k8s.io/apiextensions-apiserver validation + kube-openapi errors). */
function fieldError(error: ErrorObject, object: unknown): FieldError {
  const field = pathOf(error.instancePath, object);
  const value = error.data;
  const invalid = (detail: string): FieldError => ({
    type: 'FieldValueInvalid',
    field,
    message: `Invalid value: ${shown(value)}: ${field} in body ${detail}`,
  });
  switch (error.keyword) {
    case 'required':
      return { type: 'FieldValueRequired', field: fieldPath(field, error.params.missingProperty as string), message: 'Required value' };
    case 'enum': {
      const supported = (error.params.allowedValues as unknown[]).map((v) => JSON.stringify(String(v))).join(', ');
      return { type: 'FieldValueNotSupported', field, message: `Unsupported value: ${shown(value)}: supported values: ${supported}` };
    }
    case 'maxLength':
      return { type: 'FieldValueTooLong', field, message: `Too long: may not be more than ${error.params.limit as number} bytes` };
    case 'type': {
      const actual = typeName(value);
      return {
        type: 'FieldValueInvalid',
        field,
        message: `Invalid value: "${actual}": ${field} in body must be of type ${error.params.type as string}: "${actual}"`,
      };
    }
    case 'format': // kube-openapi repeats the value only when it is a string
      return invalid(`must be of type ${error.params.format as string}${typeof value === 'string' ? `: ${JSON.stringify(value)}` : ''}`);
    case 'minimum':
      return invalid(`should be greater than or equal to ${error.params.limit as number}`);
    case 'minLength':
      return invalid(`should be at least ${error.params.limit as number} chars long`);
    case 'pattern':
      return invalid(`should match '${error.params.pattern as string}'`);
    default:
      return invalid(error.message ?? 'is invalid');
  }
}

/**
 * Every fault of a whole object (apiVersion, kind, metadata, spec; status too with `{ status: true }`, for writes
 * through the status subresource). Unknown fields are not faults here: see unknownFields.
 */
export function validate(object: unknown, kind: KindDescriptor, options: { status?: boolean } = {}): FieldError[] {
  const check = compiledFor(kind)[options.status ? 'status' : 'spec'];
  if (check(object)) return [];
  const faults = check.errors ?? [];
  // A value of the wrong type has no other fault worth reporting.
  const mistyped = new Set(faults.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  return faults.filter((e) => e.keyword === 'type' || !mistyped.has(e.instancePath)).map((e) => fieldError(e, object));
}

/** The paths of fields the kind's schema does not have (`spec.x`, `spec.permissions[0].foo`), in document order. */
export function unknownFields(object: unknown, kind: KindDescriptor): string[] {
  return unknownFieldsIn(object, compiledFor(kind).schema);
}

/** The paths of fields `schema` does not have, in document order (a kind of Kubernetes' own, such as Event). */
export function unknownFieldsIn(object: unknown, objectSchema: Schema): string[] {
  const found: string[] = [];
  rewrite(object, objectSchema, (value, schema, path) => {
    if (listsFields(schema))
      found.push(
        ...Object.keys(value)
          .filter((k) => !Object.hasOwn(schema.properties!, k))
          .map((k) => fieldPath(path, k)),
      );
    return value;
  });
  return found;
}

/** A copy without the fields the kind's schema does not have (fieldValidation=Ignore, and after Warn). */
export function pruneUnknownFields<T>(object: T, kind: KindDescriptor): T {
  return pruneUnknownFieldsIn(object, compiledFor(kind).schema);
}

/** A copy without the fields `schema` does not have. */
export function pruneUnknownFieldsIn<T>(object: T, objectSchema: Schema): T {
  return rewrite(object, objectSchema, (value, schema) =>
    listsFields(schema) ? Object.fromEntries(Object.entries(value).filter(([k]) => Object.hasOwn(schema.properties!, k))) : value,
  ) as T;
}

/**
 * A copy with the schema's defaults filled in where a field is absent or null, inside every object present (as
 * kube-apiserver defaults custom resources); other nulls are dropped, as no field of these kinds is nullable.
 */
export function withDefaults<T>(object: T, kind: KindDescriptor): T {
  return rewrite(object, compiledFor(kind).schema, (value, schema) => {
    if (!schema.properties) return value;
    const kept: JsonObject = Object.fromEntries(
      Object.entries(value).filter(([k, v]) => v !== null || !Object.hasOwn(schema.properties!, k)),
    );
    const defaults = Object.entries(schema.properties)
      .filter(([k, s]) => s.default !== undefined && !Object.hasOwn(kept, k))
      .map(([k, s]) => [k, structuredClone(s.default)]);
    return { ...kept, ...Object.fromEntries(defaults) };
  }) as T;
}
