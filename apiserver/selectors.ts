// labelSelector and fieldSelector query parameters, parsed once and matched against objects.
import { StatusError } from './status.ts';

type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export type Matcher = (labels: Record<string, string>) => boolean;

const keyPattern = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Splits on commas outside parentheses: `a in (x,y),b` → [`a in (x,y)`, `b`]. */
function terms(selector: string): string[] {
  const result: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      result.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  result.push(current.trim());
  return result.filter((t) => t !== '');
}

function requirement(term: string, param: string): Requirement {
  const fail = () => new StatusError('BadRequest', `unable to parse requirement: ${param}: invalid selector: "${term}"`);
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  const equality = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  let result: Requirement;
  if (set) result = { key: set[1]!, op: set[2] as 'in' | 'notin', values: set[3]!.split(',').map((v) => v.trim()) };
  else if (equality) result = { key: equality[1]!, op: equality[2] === '!=' ? 'notin' : 'in', values: [equality[3]!] };
  else if (term.startsWith('!')) result = { key: term.slice(1).trim(), op: '!exists' };
  else result = { key: term, op: 'exists' };
  if (!keyPattern.test(result.key) || ('values' in result && !result.values.every((v) => valuePattern.test(v)))) throw fail();
  return result;
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.op) {
    case 'exists':
      return has;
    case '!exists':
      return !has;
    case 'in':
      return has && r.values.includes(labels[r.key]!);
    case 'notin':
      return !has || !r.values.includes(labels[r.key]!);
  }
}

/** A label selector (`app=web,tier in (a,b),!legacy`); an empty one matches everything. */
export function labelSelector(selector: string | undefined): Matcher {
  const requirements = terms(selector ?? '').map((t) => requirement(t, 'labelSelector'));
  return (labels) => requirements.every((r) => matches(r, labels));
}

/**
 * A field selector over the fields a kind supports (`metadata.name=x,metadata.namespace!=y`); an unsupported
 * field is a BadRequest, as kube-apiserver answers it.
 */
export function fieldSelector(selector: string | undefined, supported: readonly string[]): Matcher {
  const requirements = terms(selector ?? '').map((t) => {
    const r = requirement(t, 'fieldSelector');
    if (!('values' in r)) throw new StatusError('BadRequest', `invalid field selector: "${t}": only =, == and != are supported`);
    if (!supported.includes(r.key)) throw new StatusError('BadRequest', `field label not supported: ${r.key}`);
    return r;
  });
  return (fields) => requirements.every((r) => matches(r, fields));
}
