// Errors as metav1.Status (K8S-WIRE §5): every failure the API returns goes through StatusError.
import type { FieldError } from './fields.ts';

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Expired'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'Invalid'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

const codes: Record<StatusReason, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Expired: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
};

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason: string; message: string; field: string }[];
  /** With 503 and 429: when to try again; the answer's Retry-After header says it too. */
  retryAfterSeconds?: number;
}

/** The object a request is about, as Status messages name it: `<resource>.<group> "<name>"`. */
export interface Subject {
  group: string;
  /** plural resource, e.g. databaseroles */
  resource: string;
  kind: string;
  name?: string;
}

export class StatusError extends Error {
  readonly code: number;

  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'StatusError';
    this.code = codes[reason];
  }

  toStatus() {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

function qualifiedResource(subject: Subject): string {
  return subject.group ? `${subject.resource}.${subject.group}` : subject.resource;
}

function detailsOf(subject: Subject): StatusDetails {
  return { ...(subject.name ? { name: subject.name } : {}), group: subject.group, kind: subject.resource };
}

export function notFound(subject: Subject): StatusError {
  return new StatusError('NotFound', `${qualifiedResource(subject)} "${subject.name}" not found`, detailsOf(subject));
}

export function alreadyExists(subject: Subject): StatusError {
  return new StatusError('AlreadyExists', `${qualifiedResource(subject)} "${subject.name}" already exists`, detailsOf(subject));
}

export function conflict(
  subject: Subject,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
): StatusError {
  return new StatusError(
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(subject)} "${subject.name}": ${why}`,
    detailsOf(subject),
  );
}

export function forbidden(subject: Subject, why: string): StatusError {
  const what = subject.name ? `${qualifiedResource(subject)} "${subject.name}"` : qualifiedResource(subject);
  return new StatusError('Forbidden', `${what} is forbidden: ${why}`, detailsOf(subject));
}

/** 422 with one cause per field error, as kube-apiserver words it. */
export function invalid(subject: Subject, errors: FieldError[]): StatusError {
  const group = subject.group ? `.${subject.group}` : '';
  const list = errors.map((e) => `${e.field}: ${e.message}`).join(', ');
  const message = `${subject.kind}${group} "${subject.name ?? ''}" is invalid: ${errors.length > 1 ? `[${list}]` : list}`;
  return new StatusError('Invalid', message, {
    ...(subject.name ? { name: subject.name } : {}),
    group: subject.group,
    kind: subject.kind,
    causes: errors.map((e) => ({ reason: e.type, message: e.message, field: e.field })),
  });
}

/** 503 with Retry-After, as kube-apiserver answers while its storage does not. */
export function serviceUnavailable(message: string, retryAfterSeconds: number): StatusError {
  return new StatusError('ServiceUnavailable', message, { retryAfterSeconds });
}

export function badRequest(message: string): StatusError {
  return new StatusError('BadRequest', message);
}
