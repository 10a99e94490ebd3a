// Errors of the object store. Each carries what the HTTP layer needs to build a Kubernetes Status: the
// reason and code, a message in kube-apiserver's words and, for errors about one object, its key.
// Messages never hold a DSN, a password or the content of an object.
import { serviceUnavailable, StatusError } from '../../openapi/status.ts';

/** Where an object lives: resource is "<group>/<plural>" ("/secrets" in the core group), namespace '' when cluster-scoped. */
export interface ObjectKey {
  resource: string;
  namespace: string;
  name: string;
}

/** How Status messages name a resource: "databaseroles.postgres.databases.dinhloc.dev", or "secrets" in the core group. */
export function qualifiedResource(resource: string): string {
  const slash = resource.lastIndexOf('/');
  const group = resource.slice(0, Math.max(slash, 0));
  const plural = resource.slice(slash + 1);
  return group ? `${plural}.${group}` : plural;
}

export type StoreErrorReason = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Expired' | 'BadRequest' | 'ServiceUnavailable';

export abstract class StoreError extends Error {
  abstract readonly reason: StoreErrorReason;
  /** The HTTP status code kube-apiserver answers with. */
  abstract readonly code: number;
}

/** An error about one object; `key` rather than name/namespace fields, since Error already has a `name`. */
abstract class ObjectError extends StoreError {
  constructor(
    readonly key: ObjectKey,
    message: string,
  ) {
    super(message);
  }
}

export class NotFound extends ObjectError {
  readonly reason = 'NotFound';
  readonly code = 404;

  constructor(key: ObjectKey) {
    super(key, `${qualifiedResource(key.resource)} "${key.name}" not found`);
    this.name = 'NotFound';
  }
}

export class AlreadyExists extends ObjectError {
  readonly reason = 'AlreadyExists';
  readonly code = 409;

  constructor(key: ObjectKey) {
    super(key, `${qualifiedResource(key.resource)} "${key.name}" already exists`);
    this.name = 'AlreadyExists';
  }
}

export class Conflict extends ObjectError {
  readonly reason = 'Conflict';
  readonly code = 409;

  constructor(key: ObjectKey, why = 'the object has been modified; please apply your changes to the latest version and try again') {
    super(key, `Operation cannot be fulfilled on ${qualifiedResource(key.resource)} "${key.name}": ${why}`);
    this.name = 'Conflict';
  }
}

/** 410: the change log no longer holds what a watch or a continued list needs; the client lists again. */
export class Expired extends StoreError {
  readonly reason = 'Expired';
  readonly code = 410;

  constructor(message: string) {
    super(message);
    this.name = 'Expired';
  }

  /** A watch (or replay) from a resourceVersion older than the oldest one the log can replay from. */
  static tooOld(requested: bigint, oldest: bigint): Expired {
    return new Expired(`too old resource version: ${requested} (${oldest})`);
  }
}

/** 400: a resourceVersion or continue token that this store never issued. */
export class BadRequest extends StoreError {
  readonly reason = 'BadRequest';
  readonly code = 400;

  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

/** 503: the store's PostgreSQL does not answer; the client retries after `retryAfterSeconds`. */
export class Unavailable extends StoreError {
  readonly reason = 'ServiceUnavailable';
  readonly code = 503;
  readonly retryAfterSeconds = 1;

  constructor(doing: string) {
    super(`the object store is not available (while ${doing}); try again shortly`);
    this.name = 'Unavailable';
  }
}

/** A store error as the Status the API answers with (its reason, code and message); anything else as it is. */
export function fromStoreError(error: unknown): unknown {
  if (error instanceof Unavailable) return serviceUnavailable(error.message, error.retryAfterSeconds);
  return error instanceof StoreError ? new StatusError(error.reason, error.message) : error;
}
