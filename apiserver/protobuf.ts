// kubectl's `create secret`, `create namespace`, `auth can-i` and `auth whoami` send their objects as Kubernetes
// protobuf (a "k8s\0" envelope around runtime.Unknown). Local mode reads the few messages it needs; anything
// else is 415.
import { StatusError } from '../openapi/status.ts';

type Fields = Map<number, (Buffer | bigint)[]>;

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

function varint(buffer: Buffer, start: number): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  let at = start;
  for (;;) {
    const byte = buffer[at++];
    if (byte === undefined) throw new Error('truncated varint');
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7n;
  }
}

/** The fields of one message: length-delimited ones as bytes, varints as numbers (others are skipped). */
function fields(buffer: Buffer): Fields {
  const result: Fields = new Map();
  let at = 0;
  while (at < buffer.length) {
    const [key, next] = varint(buffer, at);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value: Buffer | bigint;
    if (wire === 0) [value, at] = varint(buffer, next);
    else if (wire === 2) {
      const [length, body] = varint(buffer, next);
      value = buffer.subarray(body, body + Number(length));
      at = body + Number(length);
    } else if (wire === 1) [value, at] = [buffer.readBigUInt64LE(next), next + 8];
    else if (wire === 5) [value, at] = [BigInt(buffer.readUInt32LE(next)), next + 4];
    else throw new Error(`unsupported wire type ${wire}`);
    result.set(field, [...(result.get(field) ?? []), value]);
  }
  return result;
}

/** A string field; proto2 encodes unset strings as empty ones, which JSON would have left out. */
const text = (f: Fields, n: number) => (f.get(n)?.[0] as Buffer | undefined)?.toString('utf8') || undefined;
const texts = (f: Fields, n: number) => (f.get(n) ?? []).map((v) => (v as Buffer).toString('utf8'));
const messages = (f: Fields, n: number) => (f.get(n) ?? []).map((v) => fields(v as Buffer));

function map(f: Fields, n: number, value: (entry: Fields) => string): Record<string, string> | undefined {
  const entries = messages(f, n);
  return entries.length === 0 ? undefined : Object.fromEntries(entries.map((e) => [text(e, 1) ?? '', value(e)]));
}

function defined(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined));
}

/** k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta: what a client may set on create. */
function objectMeta(f: Fields | undefined): Record<string, unknown> {
  if (!f) return {};
  const finalizers = texts(f, 14);
  return defined({
    name: text(f, 1),
    generateName: text(f, 2),
    namespace: text(f, 3),
    resourceVersion: text(f, 6),
    labels: map(f, 11, (e) => text(e, 2) ?? ''),
    annotations: map(f, 12, (e) => text(e, 2) ?? ''),
    finalizers: finalizers.length > 0 ? finalizers : undefined,
  });
}

/** authorization.k8s.io/v1 ResourceAttributes and NonResourceAttributes (selectors are not read). */
const resourceAttributes = (f: Fields) =>
  defined({
    namespace: text(f, 1),
    verb: text(f, 2),
    group: text(f, 3),
    version: text(f, 4),
    resource: text(f, 5),
    subresource: text(f, 6),
    name: text(f, 7),
  });
const nonResourceAttributes = (f: Fields) => defined({ path: text(f, 1), verb: text(f, 2) });

/** By apiVersion and kind: the fields after metadata, as JSON carries them. */
const decoders: Record<string, (f: Fields) => Record<string, unknown>> = {
  'v1/Secret': (f) =>
    defined({
      data: map(f, 2, (e) => ((e.get(2)?.[0] as Buffer | undefined) ?? Buffer.alloc(0)).toString('base64')),
      type: text(f, 3),
      stringData: map(f, 4, (e) => text(e, 2) ?? ''),
    }),
  'v1/Namespace': () => ({}),
  'authorization.k8s.io/v1/SelfSubjectAccessReview': (f) => {
    const spec = messages(f, 2)[0] ?? new Map();
    const resource = messages(spec, 1)[0];
    const nonResource = messages(spec, 2)[0];
    return {
      spec: defined({
        resourceAttributes: resource && resourceAttributes(resource),
        nonResourceAttributes: nonResource && nonResourceAttributes(nonResource),
      }),
    };
  },
  // SelfSubjectRulesSpec: namespace (1).
  'authorization.k8s.io/v1/SelfSubjectRulesReview': (f) => ({ spec: defined({ namespace: text(messages(f, 2)[0] ?? new Map(), 1) }) }),
  'authentication.k8s.io/v1/SelfSubjectReview': () => ({}),
};

export function isProtobuf(contentType: string): boolean {
  return contentType.split(';')[0]!.trim() === 'application/vnd.kubernetes.protobuf';
}

/** A v1 object from Kubernetes protobuf, as JSON would have carried it. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> {
  const unsupported = (why: string) =>
    new StatusError(
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (${why})`,
    );
  if (!body.subarray(0, 4).equals(magic)) throw unsupported('not a Kubernetes protobuf envelope');
  try {
    const unknown = fields(body.subarray(4));
    const typeMeta = messages(unknown, 1)[0] ?? new Map();
    const apiVersion = text(typeMeta, 1);
    const kind = text(typeMeta, 2) ?? '';
    const decode = decoders[`${apiVersion}/${kind}`];
    if (!decode) throw unsupported(`protobuf is read for ${Object.keys(decoders).join(', ')} only`);
    const object = fields((unknown.get(2)?.[0] as Buffer | undefined) ?? Buffer.alloc(0));
    return { apiVersion, kind, metadata: objectMeta(messages(object, 1)[0]), ...decode(object) };
  } catch (error) {
    if (error instanceof StatusError) throw error;
    throw new StatusError('BadRequest', `the request body could not be decoded: ${(error as Error).message}`);
  }
}
