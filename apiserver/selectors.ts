// labelSelector and fieldSelector query parameters, parsed once and matched against objects.
import { StatusError } from '../openapi/status.ts';

type Requirement = { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | '!exists' };

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

function requirement(term: string): Requirement {
  const fail = () => new StatusError('BadRequest', `unable to parse requirement: labelSelector: invalid selector: "${term}"`);
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
  const requirements = terms(selector ?? '').map(requirement);
  return (labels) => requirements.every((r) => matches(r, labels));
}

/** Splits on commas that are not escaped; escapes stay in the terms (fields.ParseSelector's splitTerms). */
function fieldTerms(selector: string): string[] {
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (escaped) escaped = false;
    else if (c === '\\') escaped = true;
    else if (c === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms.filter((term) => term !== '');
}

/** `\\`, `\,` and `\=` stand for themselves; any other escape, or a bare `,` or `=`, is invalid. */
function unescapeFieldValue(value: string): string | undefined {
  let result = '';
  let escaped = false;
  for (const c of value) {
    if (escaped) {
      if (c !== '\\' && c !== ',' && c !== '=') return undefined;
      result += c;
      escaped = false;
    } else if (c === '\\') escaped = true;
    else if (c === ',' || c === '=') return undefined;
    else result += c;
  }
  return escaped ? undefined : result;
}

export interface FieldRequirement {
  field: string;
  /** `=` or `==`; false for `!=`. */
  equals: boolean;
  value: string;
}

/** One term: the field, the operator and the unescaped value; undefined when it does not parse. */
function fieldTerm(term: string): FieldRequirement | undefined {
  for (let i = 0; i < term.length; i++) {
    const op = ['!=', '==', '='].find((candidate) => term.startsWith(candidate, i));
    if (!op) continue;
    const value = unescapeFieldValue(term.slice(i + op.length));
    return value === undefined || i === 0 ? undefined : { field: term.slice(0, i), equals: op !== '!=', value };
  }
  return undefined;
}

/**
 * A field selector as kube-apiserver reads it (`metadata.name=a\,b,reason!=x`), terms in sorted order; undefined
 * when it does not parse. The one reading of field selectors: authorization (the name of a list or watch)
 * and serving both use it.
 */
export function parseFieldSelector(selector: string): FieldRequirement[] | undefined {
  const terms = fieldTerms(selector).sort().map(fieldTerm);
  return terms.some((term) => term === undefined) ? undefined : (terms as FieldRequirement[]);
}

/**
 * A field selector over the fields a kind supports; one that does not parse, or names an unsupported field, is
 * a BadRequest, as kube-apiserver answers it.
 */
export function fieldSelector(selector: string | undefined, supported: readonly string[]): Matcher {
  const requirements = parseFieldSelector(selector ?? '');
  if (!requirements) throw new StatusError('BadRequest', `invalid field selector: ${JSON.stringify(selector)}`);
  for (const r of requirements)
    if (!supported.includes(r.field)) throw new StatusError('BadRequest', `field label not supported: ${r.field}`);
  return (fields) => requirements.every((r) => (fields[r.field] === r.value) === r.equals);
}
