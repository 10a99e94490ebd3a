// Query parameters with one reading each, shared by authorization and serving: what a request is authorized
// as is what it is served as. A value that means nothing is a 400, before anything is read or written.
import { badRequest } from '../openapi/status.ts';

type Query = Record<string, string | string[] | undefined>;

function single(query: Query, name: string): string | undefined {
  const value = query[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `watch`: true, false, 1 or 0 in any case (empty means true, as in kube-apiserver); undefined for anything else. */
export function parseWatch(value: string | null | undefined): boolean | undefined {
  if (value === null || value === undefined) return false;
  const lower = value.toLowerCase();
  if (lower === '' || lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  return undefined;
}

export function watchRequested(query: Query): boolean {
  const value = single(query, 'watch');
  const watch = parseWatch(value);
  if (watch === undefined) throw badRequest(`invalid value for watch: ${JSON.stringify(value)}: must be true or false`);
  return watch;
}

// Node's timers hold at most 2^31 - 1 ms: a longer wait would fire at once.
const maxTimeoutSeconds = Math.floor((2 ** 31 - 1) / 1000);

/** A non-negative whole number (`limit`, `timeoutSeconds`), or undefined when absent; anything else is a 400. */
export function countParameter(query: Query, name: string): number | undefined {
  const value = single(query, name);
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value))
    throw badRequest(`invalid value for ${name}: ${JSON.stringify(value)}: must be a non-negative whole number`);
  return Number(value);
}

/** timeoutSeconds of a watch, within what a timer can wait. */
export function watchTimeoutSeconds(query: Query): number | undefined {
  const seconds = countParameter(query, 'timeoutSeconds');
  return seconds === undefined ? undefined : Math.min(seconds, maxTimeoutSeconds);
}
