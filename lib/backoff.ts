// Exponential backoff with jitter: each failure in a row doubles the delay up to a cap. The jitter (the delay
// is drawn between half and all of it) keeps replicas, watches and objects that failed together from retrying
// together.

export interface BackoffOptions {
  firstMs: number;
  maxMs: number;
  /** Returns a number in [0, 1); tests pass a constant. */
  random?: () => number;
}

/** The delay after `failures` failures in a row (1 for the first). */
export function backoffDelay(failures: number, options: BackoffOptions): number {
  const base = Math.min(options.firstMs * 2 ** Math.max(failures - 1, 0), options.maxMs);
  return Math.round(base * (0.5 + (options.random ?? Math.random)() / 2));
}

/** Counts the failures in a row itself; a success starts again from the first delay. */
export class Backoff {
  private failures = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next try, counting this failure. */
  next(): number {
    this.failures += 1;
    return backoffDelay(this.failures, this.options);
  }

  reset(): void {
    this.failures = 0;
  }
}
