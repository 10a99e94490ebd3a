// Who is asking. Local mode knows one user, holding a bearer token written into its kubeconfig. In a cluster,
// authentication is delegated (K8S-WIRE §7): a front proxy's client certificate with the user in X-Remote-*
// headers, a client certificate from the cluster's client CA, or a bearer token that kube-apiserver vouches for.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type Koa from 'koa';
import type { AuthenticationConfig, RequestHeaderConfig } from './authconfig.ts';
import { cachedFor, failureOf, reviewTtlMs } from '../storage/kubernetes/delegation.ts';
import type { Logger } from '../lib/log.ts';
import { StatusError } from '../openapi/status.ts';
import { getOrAdd } from '../lib/maps.ts';

export interface User {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

function unauthorized(): StatusError {
  return new StatusError('Unauthorized', 'Unauthorized');
}

/** The token of an `Authorization: Bearer <token>` header; undefined for any other form. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const [scheme, token] = (authorization ?? '').split(' ');
  return scheme?.toLowerCase() === 'bearer' && token ? token : undefined;
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Accepts `Authorization: Bearer <token>` for the one local user; anything else is 401. */
export function bearerTokenAuthentication(token: string, user: User): Koa.Middleware {
  return async (ctx, next) => {
    const given = bearerToken(ctx.get('authorization'));
    if (!given || !sameToken(given, token)) throw unauthorized();
    ctx.state.user = user;
    await next();
  };
}

/** Per TLS connection, the certificates its client sent: they are the same for every request it carries. */
const presentedOn = new WeakMap<Socket, X509Certificate[]>();

/**
 * The certificates the client sent over TLS, its own first, then the intermediates; empty when it sent none.
 * Parsed once per connection (kube-apiserver's proxy keeps its connections alive), and judged once per set of
 * roots while every certificate is valid (verifiedOnce).
 */
function peerCertificates(socket: Socket): X509Certificate[] {
  let chain = presentedOn.get(socket);
  if (!chain) presentedOn.set(socket, (chain = readPeerCertificates(socket)));
  return chain;
}

function readPeerCertificates(socket: Socket): X509Certificate[] {
  if (!('getPeerCertificate' in socket)) return [];
  const chain: X509Certificate[] = [];
  // Node links each certificate to its issuer among those sent; the chain ends on a self-signed one (linked to
  // itself) or on one whose issuer was not sent.
  let cert: DetailedPeerCertificate | undefined = (socket as TLSSocket).getPeerCertificate(true);
  while (cert?.raw && !chain.some((seen) => seen.raw.equals(cert!.raw))) {
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

const clientAuthUsage = '1.3.6.1.5.5.7.3.2';
const anyUsage = '2.5.29.37.0';
// Go's x509 stops at 100 signature checks: a client sending many look-alike intermediates cannot make us loop.
const maxSignatureChecks = 100;

function withinValidity(cert: X509Certificate, now: Date): boolean {
  return Date.parse(cert.validFrom) <= now.getTime() && now.getTime() <= Date.parse(cert.validTo);
}

/** Without the ExtKeyUsage extension a certificate may serve any purpose. */
function allowsClientAuth(cert: X509Certificate): boolean {
  const usages = cert.keyUsage;
  return !usages || usages.includes(clientAuthUsage) || usages.includes(anyUsage);
}

function usableAt(cert: X509Certificate, now: Date): boolean {
  return withinValidity(cert, now) && allowsClientAuth(cert);
}

/**
 * Whether `presented` (the client's certificate, then the intermediates it sent) chains to one of `roots`, as
 * Go's x509 Verify with ExtKeyUsage ClientAuth decides for kube-apiserver: every certificate of the chain within
 * its validity and allowing ClientAuth when it restricts its usages, every intermediate a CA.
 */
export function verifyClientCertificate(
  presented: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now = new Date(),
): boolean {
  const [leaf, ...intermediates] = presented;
  if (!leaf || !usableAt(leaf, now)) return false;
  if (roots.some((root) => root.raw.equals(leaf.raw))) return true;
  let checks = 0;
  const signedBy = (cert: X509Certificate, issuer: X509Certificate) =>
    cert.checkIssued(issuer) && ++checks <= maxSignatureChecks && cert.verify(issuer.publicKey);
  const reachesRoot = (cert: X509Certificate, unused: X509Certificate[]): boolean =>
    roots.some((root) => usableAt(root, now) && signedBy(cert, root)) ||
    unused.some(
      (next) =>
        next.ca &&
        usableAt(next, now) &&
        signedBy(cert, next) &&
        reachesRoot(
          next,
          unused.filter((other) => other !== next),
        ),
    );
  return reachesRoot(leaf, intermediates);
}

/** What verifyClientCertificate said of a chain against some roots, and the times between which it holds. */
interface Verdict {
  trusted: boolean;
  from: number;
  until: number;
}

/** Per chain a connection presented (peerCertificates), per set of roots (a config's), its verdict. */
const verdicts = new WeakMap<readonly X509Certificate[], Map<readonly X509Certificate[], Verdict>>();

/**
 * verifyClientCertificate, judged once per connection and roots rather than at every request it carries: the
 * verdict depends on the time only through each certificate's validity, so it holds while every certificate
 * presented and every root is within its own. At a time outside that window the chain is judged anew.
 */
export function verifiedOnce(presented: readonly X509Certificate[], roots: readonly X509Certificate[], now = Date.now()): boolean {
  const known = verdicts.get(presented)?.get(roots);
  if (known && known.from <= now && now <= known.until) return known.trusted;
  const trusted = verifyClientCertificate(presented, roots, new Date(now));
  const judged = [...presented, ...roots];
  const from = Math.max(...judged.map((cert) => Date.parse(cert.validFrom)));
  const until = Math.min(...judged.map((cert) => Date.parse(cert.validTo)));
  if (from <= now && now <= until)
    getOrAdd(verdicts, presented, () => new Map<readonly X509Certificate[], Verdict>()).set(roots, { trusted, from, until });
  return trusted;
}

/** A certificate's subject, read once: toLegacyObject parses the whole certificate. */
const subjects = new WeakMap<X509Certificate, Record<string, string | string[] | undefined>>();

function subjectValues(cert: X509Certificate, attribute: 'CN' | 'O'): string[] {
  const subject = getOrAdd(subjects, cert, () => cert.toLegacyObject().subject as unknown as Record<string, string | string[] | undefined>);
  const value = subject[attribute];
  return value === undefined ? [] : [value].flat();
}

/** The subject's common name; with several, the last, as Go's pkix.Name reads it. */
function commonName(cert: X509Certificate): string | undefined {
  return subjectValues(cert, 'CN').at(-1);
}

/** The user a client certificate names: CN, with the O values as groups; none without a CN. */
export function certificateUser(cert: X509Certificate): User | undefined {
  const name = commonName(cert);
  if (!name) return undefined;
  const credentialId = `X509SHA256=${cert.fingerprint256.replaceAll(':', '').toLowerCase()}`;
  return { name, groups: subjectValues(cert, 'O'), extra: { 'authentication.kubernetes.io/credential-id': [credentialId] } };
}

/** Request headers as Node's `req.headersDistinct` gives them: lower-case names, one value per header line. */
export type HeaderLines = Readonly<Record<string, string[] | undefined>>;

/** The value of the first of `names` whose first line is not empty. */
function firstValue(headers: HeaderLines, names: readonly string[]): string | undefined {
  return names.map((name) => headers[name.toLowerCase()]?.[0]).find((value) => value);
}

function unescapeExtraKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded; // kept as sent when malformed, as kube-apiserver does
  }
}

function extraOf(headers: HeaderLines, prefixes: readonly string[]): Map<string, string[]> {
  const extra = new Map<string, string[]>();
  for (const prefix of prefixes.map((p) => p.toLowerCase())) {
    for (const [name, values] of Object.entries(headers)) {
      if (!name.startsWith(prefix) || !values) continue;
      const key = unescapeExtraKey(name.slice(prefix.length));
      extra.set(key, [...(extra.get(key) ?? []), ...values]);
    }
  }
  return extra;
}

/**
 * The user a front proxy names: the first username header with a value; groups from every line of every group
 * header (a group name may hold a comma, so lines are never split); extras keyed by the rest of the header name,
 * lower-cased and percent-decoded. Undefined without a username.
 */
export function requestHeaderUser(headers: HeaderLines, config: RequestHeaderConfig): User | undefined {
  const name = firstValue(headers, config.usernameHeaders);
  if (!name) return undefined;
  const uid = firstValue(headers, config.uidHeaders);
  const groups = config.groupHeaders.flatMap((header) => headers[header.toLowerCase()] ?? []).filter((group) => group !== '');
  const extra = extraOf(headers, config.extraHeaderPrefixes);
  return { name, ...(uid ? { uid } : {}), groups, ...(extra.size > 0 ? { extra: Object.fromEntries(extra) } : {}) };
}

function trustedFrontProxy(presented: X509Certificate[], config: RequestHeaderConfig): boolean {
  if (!verifiedOnce(presented, config.ca)) return false;
  return config.allowedNames.length === 0 || config.allowedNames.includes(commonName(presented[0]!) ?? '');
}

/** Every authenticated user is in system:authenticated; kube-apiserver adds it to all but system:anonymous. */
export function withAuthenticatedGroup(user: User): User {
  const marked = user.groups.some((group) => group === 'system:authenticated' || group === 'system:unauthenticated');
  if (marked || user.name === 'system:anonymous') return user;
  return { ...user, groups: [...user.groups, 'system:authenticated'] };
}

export interface AuthenticationOptions {
  /** The trust configuration in force; asked on every request, since it changes at run time. */
  config: () => AuthenticationConfig;
  /** Who holds a bearer token, by kube-apiserver's TokenReview; undefined when the token does not authenticate. */
  reviewToken: (token: string) => Promise<User | undefined>;
  log: Logger;
}

/** kube-apiserver's order: front proxy, client certificate, bearer token; the first that names a user wins. */
async function authenticate(ctx: Koa.Context, options: AuthenticationOptions): Promise<User | undefined> {
  const config = options.config();
  const presented = peerCertificates(ctx.req.socket);
  if (config.requestHeader && trustedFrontProxy(presented, config.requestHeader)) {
    const user = requestHeaderUser(ctx.req.headersDistinct, config.requestHeader);
    if (user) return user;
  }
  if (verifiedOnce(presented, config.clientCA)) {
    const user = certificateUser(presented[0]!);
    if (user) return user;
  }
  if (presented.length > 0) options.log.debug('a client certificate was presented but authenticated no user');
  const token = bearerToken(ctx.get('authorization'));
  if (!token) return undefined;
  try {
    return await options.reviewToken(token);
  } catch (error) {
    options.log.warn({ reason: failureOf(error) }, 'TokenReview failed; the request is refused as unauthenticated');
    return undefined;
  }
}

/** Delegated authentication with the given trust and token reviewer; no user is 401, a user gets ctx.state.user. */
export function authentication(options: AuthenticationOptions): Koa.Middleware {
  return async (ctx, next) => {
    const user = await authenticate(ctx, options);
    if (!user) throw unauthorized();
    ctx.state.user = withAuthenticatedGroup(user);
    await next();
  };
}

/** `review` with its answers kept 10 s, remembered under a hash of the token, never the token itself. */
export function cachedTokenReview(
  review: (token: string) => Promise<User | undefined>,
  now?: () => number,
): (token: string) => Promise<User | undefined> {
  return cachedFor(review, { ttlMs: reviewTtlMs, key: (token) => createHash('sha256').update(token).digest('hex'), now });
}
