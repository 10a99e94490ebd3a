// Reading a request: the body (JSON or YAML, size-limited) and the query parameters every verb shares.
import type Koa from 'koa';
import { parse as parseYaml } from 'yaml';
import { decodeProtobuf, isProtobuf } from './protobuf.ts';
import type { WriteContext, ResourceKind } from '../reconcile/kinds/resource.ts';
import { badRequest, StatusError } from '../openapi/status.ts';
import type { KubeObject } from '../openapi/objects.ts';
import { isObject } from '../lib/guards.ts';

/** The content type of a server-side apply. */
export const applyPatchType = 'application/apply-patch+yaml';

/** kube-apiserver's limit for a request body. */
export const maxBodyBytes = 3 * 1024 * 1024;

export async function readBody(ctx: Koa.Context): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > maxBodyBytes) throw new StatusError('RequestEntityTooLarge', `the request body is larger than ${maxBodyBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new StatusError('RequestEntityTooLarge', `the request body is larger than ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** How deep a body may nest: our objects nest about 10 levels, managedFields twice that. */
export const maxBodyDepth = 100;

/**
 * A decoded body the rest of the server can hold: nested at most maxBodyDepth deep (deeper would exhaust the
 * stack of every walk over it), and no NUL character, which PostgreSQL cannot store in text or jsonb. Iterative.
 */
function checkShape(value: unknown): void {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [next, depth] = pending.pop()!;
    if (typeof next === 'string') {
      if (next.includes('\u0000')) throw badRequest('the request body holds a NUL character (\\u0000), which cannot be stored');
    } else if (typeof next === 'object' && next !== null) {
      if (depth >= maxBodyDepth) throw badRequest(`the request body is nested deeper than ${maxBodyDepth} levels`);
      for (const [key, child] of Object.entries(next)) pending.push([key, depth + 1], [child, depth + 1]);
    }
  }
}

/** The body as a value: JSON, or YAML when the client says so. */
export function decode(body: Buffer, contentType: string): unknown {
  const value = decodeAs(body, contentType);
  checkShape(value);
  return value;
}

function decodeAs(body: Buffer, contentType: string): unknown {
  if (isProtobuf(contentType)) return decodeProtobuf(body);
  if (!/json|yaml/.test(contentType) && contentType !== '') {
    throw new StatusError(
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    );
  }
  const text = body.toString('utf8');
  if (text.trim() === '') throw badRequest('the request body is empty');
  try {
    return /yaml/.test(contentType) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw badRequest(`the request body could not be decoded: ${(error as Error).message.split('\n')[0]}`);
  }
}

/**
 * The body of a create or update: an object of this kind, as kube-apiserver checks it before anything else. A
 * kind built into Kubernetes (one kubectl patches strategically) may leave out apiVersion and kind, which its
 * typed decoder takes from the URL (client-node's EventsV1Api sends none); our kinds, as custom resources, may not.
 */
export function decodeObject(body: Buffer, contentType: string, kind: ResourceKind): KubeObject {
  const decoded = decode(body, contentType);
  if (!isObject(decoded))
    throw badRequest(`${kind.kind} in version "${kind.version}" cannot be handled as a ${kind.kind}: the body is not an object`);
  const apiVersion = kind.group ? `${kind.group}/${kind.version}` : kind.version;
  const value = kind.strategicMergePatch
    ? { ...decoded, apiVersion: decoded.apiVersion || apiVersion, kind: decoded.kind || kind.kind }
    : decoded;
  if (value.apiVersion !== apiVersion || value.kind !== kind.kind) {
    throw badRequest(
      `the API version in the data (${String(value.apiVersion)}) and kind (${String(value.kind)}) do not match the expected ${apiVersion}, Kind=${kind.kind}`,
    );
  }
  if (value.metadata !== undefined && !isObject(value.metadata)) throw badRequest('metadata must be an object');
  return { ...value, metadata: { ...((value.metadata as object | undefined) ?? {}) } } as KubeObject;
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

function oneOf<T extends string>(ctx: Koa.Context, name: string, values: readonly T[], fallback: T | undefined): T | undefined {
  const given = ctx.query[name];
  if (given === undefined || given === '') return fallback;
  if (typeof given === 'string' && (values as readonly string[]).includes(given)) return given as T;
  throw new StatusError(
    'Invalid',
    `${name}: Unsupported value: ${JSON.stringify(given)}: supported values: ${values.map((v) => `"${v}"`).join(', ')}`,
  );
}

export function fieldValidationOf(ctx: Koa.Context): FieldValidation {
  return oneOf(ctx, 'fieldValidation', ['Strict', 'Warn', 'Ignore'] as const, 'Warn')!;
}

/**
 * dryRun is a list in kube-apiserver (repeated query values, or DeleteOptions.dryRun in a delete's body): none
 * means a real write, and every value must be All.
 */
function dryRunOf(ctx: Koa.Context): boolean {
  const given = ctx.query.dryRun;
  const values = (given === undefined ? [] : Array.isArray(given) ? given : [given]).filter((v) => v !== '');
  const unsupported = values.find((v) => v !== 'All');
  if (unsupported !== undefined)
    throw new StatusError('Invalid', `dryRun: Unsupported value: ${JSON.stringify(unsupported)}: supported values: "All"`);
  return values.length > 0;
}

/** Adds a Warning to the request's answer (sendWarnings sends them). */
export function warnerOf(ctx: Koa.Context): (text: string) => void {
  const warnings: string[] = (ctx.state.warnings ??= []);
  return (text) => void warnings.push(text);
}

export function writeContext(ctx: Koa.Context): WriteContext {
  const warn = warnerOf(ctx);
  return { dryRun: dryRunOf(ctx), warn, advise: warn };
}

/**
 * `Warning: 299 - "<text>"` per warning (K8S-WIRE §5). The text is sent as ASCII, whatever the body's encoding:
 * Node refuses header characters beyond Latin-1 (a field named `€` would fail the answer after the write), so
 * any other character is sent as `\uXXXX` (its backslash escaped: kubectl shows `\u20ac`); control characters
 * become spaces.
 */
export function sendWarnings(ctx: Koa.Context): void {
  const warnings = (ctx.state.warnings ?? []) as string[];
  const ascii = (c: string) => {
    if (c === '"' || c === '\\') return `\\${c}`;
    if (c >= ' ' && c < '\u007f') return c;
    if (c < ' ' || c === '\u007f') return ' ';
    return [...Array(c.length).keys()].map((i) => `\\\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
  };
  if (warnings.length > 0)
    ctx.set(
      'Warning',
      warnings.map((w) => `299 - "${[...w].map(ascii).join('')}"`),
    );
}
