// Exponential backoff with jitter: each failure doubles the delay up to a cap, a success starts again from
// the first delay. The jitter (up to +20 %) keeps replicas that failed together from retrying together.

export interface BackoffOptions {
  firstMs: number;
  maxMs: number;
  /** Returns a number in [0, 1); tests pass a constant. */
  random?: () => number;
}

export class Backoff {
  private failures = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next try, counting this failure. */
  next(): number {
    const base = Math.min(this.options.firstMs * 2 ** this.failures, this.options.maxMs);
    this.failures += 1;
    return Math.round(base * (1 + 0.2 * (this.options.random ?? Math.random)()));
  }

  reset(): void {
    this.failures = 0;
  }
}
