// What a user may do, decided by kube-apiserver (K8S-WIRE §7): the attributes of each request, found as
// kube-apiserver's RequestInfoFactory finds them, go to a SubjectAccessReview (answers kept 10 s); members of
// system:masters are not asked about. A refusal is the 403 kube-apiserver would give.
import type { V1SubjectAccessReviewSpec, V1SubjectAccessReviewStatus } from '@kubernetes/client-node';
import type Koa from 'koa';
import type { User } from './authentication.ts';
import { cachedFor, failureOf, reviewTtlMs } from '../storage/kubernetes/delegation.ts';
import type { Logger } from '../lib/log.ts';
import { parseWatch } from './parameters.ts';
import { parseFieldSelector } from './selectors.ts';
import { badRequest, StatusError } from '../openapi/status.ts';

export interface ResourceAttributes {
  namespace: string;
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  name: string;
}

export interface NonResourceAttributes {
  path: string;
  /** The HTTP method, lower-cased. */
  verb: string;
}

/** What a request asks to do, in the two shapes a SubjectAccessReview takes. */
export type RequestAttributes = { resourceAttributes: ResourceAttributes } | { nonResourceAttributes: NonResourceAttributes };

// The sets of staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go.
const apiPrefixes = new Set(['api', 'apis']);
const grouplessApiPrefixes = new Set(['api']);
const specialVerbs = new Set(['proxy', 'watch']);
const specialVerbsNoSubresources = new Set(['proxy']);
const namespaceSubresources = new Set(['status', 'finalize']);
const verbOfMethod: Readonly<Record<string, string>> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

function splitPath(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

function isPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * The name a field selector pins with `metadata.name=<name>`, which kube-apiserver authorizes as the name of a
 * list or watch (`kubectl get databaserole app -w`). None when the selector does not parse, as there.
 */
export function nameFromFieldSelector(selector: string | null): string | undefined {
  if (!selector) return undefined;
  const terms = parseFieldSelector(selector);
  const name = terms?.find((term) => term.field === 'metadata.name' && term.equals)?.value;
  return name !== undefined && isPathSegmentName(name) ? name : undefined;
}

/**
 * A request's attributes as kube-apiserver's RequestInfoFactory finds them (requestinfo.go): under /api/<v> and
 * /apis/<g>/<v> a resource request (verb from the method, `list`/`watch` without a name, `deletecollection`,
 * the legacy /watch/ and /proxy/ prefixes); anything else, discovery of /apis/<g>/<v> included, a non-resource
 * request with the lower-cased method as verb. `path` is the decoded URL path.
 */
export function requestAttributes(method: string, path: string, query: URLSearchParams): RequestAttributes {
  const nonResource = { nonResourceAttributes: { path, verb: method.toLowerCase() } };
  let parts = splitPath(path);
  if (parts.length < 3 || !apiPrefixes.has(parts[0]!)) return nonResource;
  const grouped = !grouplessApiPrefixes.has(parts[0]!);
  parts = parts.slice(1);
  if (grouped && parts.length < 3) return nonResource;
  const group = grouped ? parts.shift()! : '';
  const version = parts.shift()!;

  let verb = verbOfMethod[method] ?? '';
  if (specialVerbs.has(parts[0]!)) {
    if (parts.length < 2)
      throw new StatusError('InternalError', `failed to create RequestInfo: unable to determine kind and namespace from url, ${path}`);
    verb = parts.shift()!;
  }

  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    // /namespaces/<ns>/<resource>/...: the resource is what follows, unless it is a namespace's own subresource.
    if (parts.length > 2 && !namespaceSubresources.has(parts[2]!)) parts = parts.slice(2);
  }

  const [resource = '', pathName = '', pathSubresource = ''] = parts;
  const subresource = specialVerbsNoSubresources.has(verb) ? '' : pathSubresource;
  let name = pathName;
  if (!name && verb === 'get') {
    verb = parseWatch(query.get('watch')) === true ? 'watch' : 'list'; // a value that means nothing is served as a 400
    name = nameFromFieldSelector(query.get('fieldSelector')) ?? '';
  }
  if (!name && verb === 'delete') verb = 'deletecollection';
  return { resourceAttributes: { namespace, verb, group, version, resource, subresource, name } };
}

/** Go's %q for the printable text these messages hold. */
const quote = (text: string) => JSON.stringify(text);

/** Keeps an error message from looking like HTML, as kube-apiserver does; quotes are fine. */
const sanitize = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function forbiddenMessage(user: User, attributes: RequestAttributes): string {
  if ('nonResourceAttributes' in attributes) {
    const { verb, path } = attributes.nonResourceAttributes;
    return `User ${quote(user.name)} cannot ${verb} path ${quote(path)}`;
  }
  const { verb, group, resource, subresource, namespace } = attributes.resourceAttributes;
  const what = `User ${quote(user.name)} cannot ${verb} resource ${quote(subresource ? `${resource}/${subresource}` : resource)} in API group ${quote(group)}`;
  return namespace ? `${what} in the namespace ${quote(namespace)}` : `${what} at the cluster scope`;
}

/**
 * The 403 kube-apiserver gives (responsewriters.ForbiddenStatusError, apierrors.NewForbidden), with the
 * review's reason after a colon when it gave one. Written here rather than with status.ts's forbidden() because
 * this form also covers non-resource paths and leaves out an empty group.
 */
export function forbiddenError(user: User, attributes: RequestAttributes, reason?: string): StatusError {
  const message = sanitize(forbiddenMessage(user, attributes)) + (reason ? `: ${reason}` : '');
  const { group = '', resource = '', name = '' } = 'resourceAttributes' in attributes ? attributes.resourceAttributes : {};
  const qualified = group ? `${resource}.${group}` : resource;
  const details = { ...(name ? { name } : {}), ...(group ? { group } : {}), ...(resource ? { kind: resource } : {}) };
  if (!qualified) return new StatusError('Forbidden', `forbidden: ${message}`, details);
  return new StatusError('Forbidden', `${name ? `${qualified} ${quote(name)}` : qualified} is forbidden: ${message}`, details);
}

/** The review's spec for a user and request; extra keys sorted so that equal questions read alike (cache key). */
export function subjectAccessReviewSpec(user: User, attributes: RequestAttributes): V1SubjectAccessReviewSpec {
  const { extra } = user;
  const sortedExtra =
    extra &&
    Object.fromEntries(
      Object.keys(extra)
        .sort()
        .map((key) => [key, extra[key]!]),
    );
  return {
    user: user.name,
    ...(user.uid ? { uid: user.uid } : {}),
    groups: user.groups,
    ...(sortedExtra ? { extra: sortedExtra } : {}),
    ...attributes,
  };
}

export type AccessReview = (spec: V1SubjectAccessReviewSpec) => Promise<V1SubjectAccessReviewStatus>;

export interface AuthorizationOptions {
  /** kube-apiserver's answer about a spec (SubjectAccessReview). */
  review: AccessReview;
  log: Logger;
}

function decodedPath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    throw badRequest('the URL path is not validly percent-encoded');
  }
}

const authorizationFailed = () =>
  new StatusError('InternalError', 'Internal error occurred: the authorization check could not be completed');

async function authorize(user: User, attributes: RequestAttributes, options: AuthorizationOptions): Promise<void> {
  let status: V1SubjectAccessReviewStatus;
  try {
    status = await options.review(subjectAccessReviewSpec(user, attributes));
  } catch (error) {
    options.log.error({ reason: failureOf(error) }, 'SubjectAccessReview failed; the request is refused');
    throw authorizationFailed();
  }
  if (status.allowed && status.denied) {
    options.log.error('SubjectAccessReview answered both allowed and denied; the request is refused');
    throw authorizationFailed();
  }
  if (!status.allowed) throw forbiddenError(user, attributes, status.reason);
}

/** Authorization of every request that reaches it (health paths answer before); needs ctx.state.user. */
export function authorization(options: AuthorizationOptions): Koa.Middleware {
  return async (ctx, next) => {
    const user = ctx.state.user as User | undefined;
    if (!user) throw new Error('authorization runs after authentication, which sets ctx.state.user');
    if (!user.groups.includes('system:masters')) {
      await authorize(user, requestAttributes(ctx.method, decodedPath(ctx.path), new URLSearchParams(ctx.querystring)), options);
    }
    await next();
  };
}

/** `review` with its answers, allowed or denied, kept 10 s per user and attributes; failures are not kept. */
export function cachedAccessReview(review: AccessReview, now?: () => number): AccessReview {
  return cachedFor(review, { ttlMs: reviewTtlMs, key: (spec) => JSON.stringify(spec), now });
}
