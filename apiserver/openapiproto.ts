// /openapi/v2 as kubectl asks for it: the Swagger 2.0 document as gnostic's openapi_v2.Document protobuf message
// (github.com/google/gnostic-models, openapiv2/OpenAPIv2.proto, whose field numbers these are). kubectl reads it to
// validate a `kind: List` (what `kubectl get -o yaml` writes) item by item before sending the items; kube-apiserver
// serves both forms, and in a cluster it serves this one for us. Only what a Swagger 2.0 document holds is
// encoded; an extension's value (x-…) goes as its YAML text, which JSON is.
import { createHash } from 'node:crypto';
import { isObject } from '../lib/guards.ts';

/**
 * The protobuf form's media type as kube-openapi's handler sends it: client-go's discovery client asks for it with
 * `@v1.0` (and for nothing else), which Go's mime parser refuses in a Content-Type, so the answer says `.v1.0`.
 */
export const openAPIV2ProtobufType = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/** Whether an Accept header asks for the protobuf form, in either spelling. */
export const acceptsOpenAPIV2Protobuf = (accept: string) =>
  /application\/com\.github\.proto-openapi\.spec\.v2[@.]v1\.0\+protobuf/.test(accept);

type Json = Record<string, unknown>;

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A message being written, field after field, in proto3's way: a scalar at its default value is left out. */
class Message {
  private readonly parts: Buffer[] = [];

  private key(field: number, wireType: number): void {
    this.parts.push(varint(field * 8 + wireType));
  }

  private delimited(field: number, bytes: Buffer): this {
    this.key(field, 2);
    this.parts.push(varint(bytes.length), bytes);
    return this;
  }

  string(field: number, value: unknown): this {
    return typeof value === 'string' && value !== '' ? this.delimited(field, Buffer.from(value, 'utf8')) : this;
  }

  /** Every value, the empty string too: a repeated field keeps each. */
  strings(field: number, values: unknown): this {
    for (const value of Array.isArray(values) ? values : []) this.delimited(field, Buffer.from(String(value), 'utf8'));
    return this;
  }

  /** `always`: a member of a oneof, written even when false. */
  bool(field: number, value: unknown, always = false): this {
    if (typeof value !== 'boolean' || (!value && !always)) return this;
    this.key(field, 0);
    this.parts.push(varint(value ? 1 : 0));
    return this;
  }

  int64(field: number, value: unknown): this {
    if (typeof value !== 'number' || value <= 0) return this;
    this.key(field, 0);
    this.parts.push(varint(Math.floor(value)));
    return this;
  }

  double(field: number, value: unknown): this {
    if (typeof value !== 'number' || value === 0) return this;
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleLE(value);
    this.key(field, 1);
    this.parts.push(bytes);
    return this;
  }

  message(field: number, value: Message | undefined): this {
    return value ? this.delimited(field, value.bytes()) : this;
  }

  messages(field: number, values: readonly Message[]): this {
    for (const value of values) this.message(field, value);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const objectsIn = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : isObject(value) ? [value] : []);

/** Any: a value as YAML (field 2). */
const anyOf = (value: unknown) => new Message().string(2, JSON.stringify(value));

/** `field` of NamedX messages (name 1, value 2), one per entry of `map`. */
function named(field: number, map: unknown, encode: (value: Json) => Message, into = new Message()): Message {
  for (const [name, value] of Object.entries(isObject(map) ? map : {}))
    if (isObject(value)) into.message(field, new Message().string(1, name).message(2, encode(value)));
  return into;
}

/** The object's extensions (x-…), as NamedAny in `field`. */
function extensions(object: Json, field: number, into: Message): Message {
  for (const [name, value] of Object.entries(object))
    if (name.startsWith('x-')) into.message(field, new Message().string(1, name).message(2, anyOf(value)));
  return into;
}

function schema(s: Json): Message {
  const m = new Message().string(1, s.$ref).string(2, s.format).string(3, s.title).string(4, s.description);
  if ('default' in s) m.message(5, anyOf(s.default));
  m.double(6, s.multipleOf).double(7, s.maximum).bool(8, s.exclusiveMaximum).double(9, s.minimum).bool(10, s.exclusiveMinimum);
  m.int64(11, s.maxLength).int64(12, s.minLength).string(13, s.pattern).int64(14, s.maxItems).int64(15, s.minItems);
  m.bool(16, s.uniqueItems).int64(17, s.maxProperties).int64(18, s.minProperties).strings(19, s.required);
  for (const value of Array.isArray(s.enum) ? s.enum : []) m.message(20, anyOf(value));
  if (typeof s.additionalProperties === 'boolean') m.message(21, new Message().bool(2, s.additionalProperties, true));
  else if (isObject(s.additionalProperties)) m.message(21, new Message().message(1, schema(s.additionalProperties)));
  if (s.type !== undefined) m.message(22, new Message().strings(1, [s.type].flat()));
  if (s.items !== undefined) m.message(23, new Message().messages(1, objectsIn(s.items).map(schema)));
  m.messages(24, objectsIn(s.allOf).map(schema));
  if (isObject(s.properties)) m.message(25, named(1, s.properties, schema));
  m.string(26, s.discriminator).bool(27, s.readOnly);
  if ('example' in s) m.message(30, anyOf(s.example));
  return extensions(s, 31, m);
}

/**
 * The fields a parameter or item of primitives shares, from `first` on (type, format, items, collectionFormat,
 * default, maximum, …, enum, multipleOf, extensions), as each message numbers them.
 */
function primitives(p: Json, first: number, m = new Message()): Message {
  m.string(first, p.type).string(first + 1, p.format);
  if (isObject(p.items)) m.message(first + 2, primitives(p.items, 1));
  m.string(first + 3, p.collectionFormat);
  if ('default' in p) m.message(first + 4, anyOf(p.default));
  m.double(first + 5, p.maximum)
    .bool(first + 6, p.exclusiveMaximum)
    .double(first + 7, p.minimum)
    .bool(first + 8, p.exclusiveMinimum);
  m.int64(first + 9, p.maxLength)
    .int64(first + 10, p.minLength)
    .string(first + 11, p.pattern);
  m.int64(first + 12, p.maxItems)
    .int64(first + 13, p.minItems)
    .bool(first + 14, p.uniqueItems);
  for (const value of Array.isArray(p.enum) ? p.enum : []) m.message(first + 15, anyOf(value));
  m.double(first + 16, p.multipleOf);
  return extensions(p, first + 17, m);
}

/** NonBodyParameter's member for each place, and where its primitives begin (after allowEmptyValue, where it has one). */
const nonBodyPlaces: Record<string, { member: number; first: number }> = {
  header: { member: 1, first: 5 },
  formData: { member: 2, first: 6 },
  query: { member: 3, first: 6 },
  path: { member: 4, first: 5 },
};

/** A ParametersItem: a reference, or a Parameter (body, or one of the others). */
function parameter(p: Json): Message {
  if (typeof p.$ref === 'string') return new Message().message(2, new Message().string(1, p.$ref).string(2, p.description));
  const common = () => new Message().bool(1, p.required).string(2, p.in).string(3, p.description).string(4, p.name);
  let inner: Message;
  if (p.in === 'body') {
    const body = new Message().string(1, p.description).string(2, p.name).string(3, p.in).bool(4, p.required);
    inner = new Message().message(1, extensions(p, 6, isObject(p.schema) ? body.message(5, schema(p.schema)) : body));
  } else {
    const place = nonBodyPlaces[String(p.in)];
    if (!place) throw new Error(`a parameter in "${String(p.in)}" has no protobuf form`);
    const sub = place.first === 6 ? common().bool(5, p.allowEmptyValue) : common();
    inner = new Message().message(2, new Message().message(place.member, primitives(p, place.first, sub)));
  }
  return new Message().message(1, inner);
}

/** A ResponseValue: a reference, or a Response (description, schema). */
function response(r: Json): Message {
  if (typeof r.$ref === 'string') return new Message().message(2, new Message().string(1, r.$ref).string(2, r.description));
  const value = new Message().string(1, r.description);
  if (isObject(r.schema)) value.message(2, new Message().message(1, schema(r.schema)));
  return new Message().message(1, extensions(r, 5, value));
}

function operation(o: Json): Message {
  const m = new Message().strings(1, o.tags).string(2, o.summary).string(3, o.description).string(5, o.operationId);
  m.strings(6, o.produces).strings(7, o.consumes).messages(8, objectsIn(o.parameters).map(parameter));
  if (isObject(o.responses)) {
    const responses = named(1, Object.fromEntries(Object.entries(o.responses).filter(([code]) => !code.startsWith('x-'))), response);
    m.message(9, extensions(o.responses, 2, responses));
  }
  m.strings(10, o.schemes).bool(11, o.deprecated);
  return extensions(o, 13, m);
}

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

function pathItem(item: Json): Message {
  const m = new Message().string(1, item.$ref);
  for (const [i, method] of methods.entries()) {
    const op = item[method];
    if (isObject(op)) m.message(2 + i, operation(op));
  }
  m.messages(9, objectsIn(item.parameters).map(parameter));
  return extensions(item, 10, m);
}

/** A Swagger 2.0 document as openapi_v2.Document. */
function encodeOpenAPIV2(document: Json): Buffer {
  const info = isObject(document.info) ? document.info : {};
  const paths = isObject(document.paths) ? document.paths : {};
  const m = new Message().string(1, document.swagger);
  m.message(2, extensions(info, 7, new Message().string(1, info.title).string(2, info.version).string(3, info.description)));
  m.string(3, document.host).string(4, document.basePath).strings(5, document.schemes);
  m.strings(6, document.consumes).strings(7, document.produces);
  const pathsMessage = extensions(paths, 1, new Message());
  m.message(8, named(2, Object.fromEntries(Object.entries(paths).filter(([path]) => !path.startsWith('x-'))), pathItem, pathsMessage));
  m.message(9, named(1, document.definitions, schema));
  return extensions(document, 16, m).bytes();
}

/** The protobuf form of a served document, with its own ETag: made once per document. */
interface ServedProtobuf {
  bytes: Buffer;
  etag: string;
}

const encoded = new WeakMap<object, ServedProtobuf>();

export function protobufOf(served: { json: string }): ServedProtobuf {
  let found = encoded.get(served);
  if (!found) {
    const bytes = encodeOpenAPIV2(JSON.parse(served.json) as Json);
    found = { bytes, etag: `"${createHash('sha512').update(bytes).digest('hex').toUpperCase()}"` };
    encoded.set(served, found);
  }
  return found;
}
