// A watch that comes back until it is stopped: one that ends is opened again shortly, one that fails (or cannot
// open) after a backoff that doubles up to 30 s, with jitter. The Secret watches of both modes run on it.
import { backoffDelay } from './backoff.ts';

/** Opens one watch; it calls `ended` once, with the error when it failed. Resolves to what stops it. */
export type OpenWatch = (ended: (error?: unknown) => void) => Promise<() => void>;

const reopenMs = 500;
const maxRetryMs = 30_000;

export function keepWatching(open: OpenWatch, failed: (error: unknown, failures: number) => void): { stop(): void } {
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopCurrent: (() => void) | undefined;

  const attempt = () => {
    const openedAt = Date.now();
    let over = false;
    const ended = (error?: unknown) => {
      if (over || stopped) return;
      over = true;
      stopCurrent = undefined;
      // A watch that ended cleanly, or lived longer than the longest backoff, was healthy: the count starts again.
      if (error === undefined || Date.now() - openedAt > maxRetryMs) failures = 0;
      if (error !== undefined) failed(error, ++failures);
      timer = setTimeout(attempt, error === undefined ? reopenMs : backoffDelay(failures, { firstMs: 2 * reopenMs, maxMs: maxRetryMs }));
    };
    open(ended).then(
      (stop) => (over || stopped ? stop() : (stopCurrent = stop)),
      (error: unknown) => ended(error ?? new Error('the watch did not open')),
    );
  };

  attempt();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      stopCurrent?.();
    },
  };
}
