/**
 * A read started before the checks it follows, to be awaited after them: its failure is reported where it is
 * awaited (or not at all, when a check refuses first), never as an unhandled rejection.
 */
export function startedEarly<T>(read: Promise<T>): Promise<T> {
  read.catch(() => undefined);
  return read;
}
