// resourceVersions and continue tokens as clients hand them back. Both are opaque to clients; a value
// this store could not have issued is a BadRequest.
import { BadRequest } from './errors.ts';

const maxBigint = 2n ** 63n - 1n;

export function parseResourceVersion(value: string): bigint {
  if (/^[0-9]{1,19}$/.test(value) && BigInt(value) <= maxBigint) return BigInt(value);
  throw new BadRequest(`invalid resource version: ${JSON.stringify(value.slice(0, 40))}`);
}

/** Where a paged list resumes: the list's resourceVersion and the last key it returned. */
export interface ContinueToken {
  resourceVersion: bigint;
  namespace: string;
  name: string;
}

export function encodeContinue(token: ContinueToken): string {
  const json = JSON.stringify({ rv: String(token.resourceVersion), namespace: token.namespace, name: token.name });
  return Buffer.from(json, 'utf8').toString('base64url');
}

export function decodeContinue(value: string): ContinueToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const { rv, namespace, name } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof rv !== 'string' || typeof namespace !== 'string' || typeof name !== 'string')
    throw new BadRequest('continue key is not valid');
  return { resourceVersion: parseResourceVersion(rv), namespace, name };
}
