// What delegated authentication and authorization share about their calls to kube-apiserver: answers kept for a
// few seconds (one TokenReview or SubjectAccessReview per distinct question, not one per request), and failures
// told without what was sent.

/** How long kube-apiserver's delegated authentication and authorization keep an answer, allowed or not. */
export const reviewTtlMs = 10_000;

export interface CacheOptions<A> {
  ttlMs: number;
  /** The key an argument is remembered under; it must not be a secret itself (hash a token first). */
  key: (arg: A) => string;
  /** Answers kept at most; the oldest go first. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry<V> {
  expires: number;
  value: Promise<V>;
}

/**
 * `load` with its answers remembered for `ttlMs`. Callers asking the same key while a call is under way share
 * it; a failed call is forgotten at once, so the next request asks again.
 */
export function cachedFor<A, V>(load: (arg: A) => Promise<V>, options: CacheOptions<A>): (arg: A) => Promise<V> {
  const { ttlMs, key: keyOf, maxEntries = 10_000, now = Date.now } = options;
  // Insertion order is expiry order, since every entry lives ttlMs: the oldest are always first.
  const entries = new Map<string, Entry<V>>();

  const evict = (time: number) => {
    for (const [key, entry] of entries) {
      if (entry.expires > time && entries.size <= maxEntries) break;
      entries.delete(key);
    }
  };

  return (arg) => {
    const key = keyOf(arg);
    const time = now();
    const hit = entries.get(key);
    if (hit && hit.expires > time) return hit.value;
    const value = load(arg);
    entries.delete(key);
    entries.set(key, { expires: time + ttlMs, value });
    value.catch(() => {
      if (entries.get(key)?.value === value) entries.delete(key);
    });
    evict(time);
    return value;
  };
}

/**
 * A failed call in words fit for a log: the HTTP code and the Status message kube-apiserver gave, or the network
 * error. Never the request (it may carry a token) nor the whole response.
 */
export function failureOf(error: unknown): string {
  if (isApiException(error)) {
    const message = statusMessage(error.body);
    return `HTTP ${error.code}${message ? `: ${message}` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * client-node's ApiException, known by its shape: a value import of that library here would load all of it in
 * local mode too, which never talks to a cluster.
 */
function isApiException(error: unknown): error is Error & { code: number; body: unknown } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'number' && 'body' in error;
}

/** The message of the Status an error response carries (client-node keeps it as text). */
function statusMessage(body: unknown): string | undefined {
  try {
    const status: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    const message = (status as { message?: unknown } | undefined)?.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return undefined;
  }
}
