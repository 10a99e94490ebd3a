/**
 * A read started before the checks it follows, to be awaited after them: its failure is reported where it is
 * awaited (or not at all, when a check refuses first), never as an unhandled rejection.
 */
export function startedEarly<T>(read: Promise<T>): Promise<T> {
  read.catch(() => undefined);
  return read;
}

/** What `work` answers, or undefined once `ms` pass first (at once with no work); the timer ends with the race. */
export async function within<T>(work: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([work, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves once this turn of the event loop is done (setImmediate): what this turn set going, an answer being
 * written or the calls one turn gathers, goes first.
 */
export function afterThisTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
