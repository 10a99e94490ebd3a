// Writes of one object, from requests and from the reconciler, one at a time: a correction must never run
// between a delete's SQL and its removal from the store (it would create again what the delete dropped).
export class ObjectLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `work` once every earlier work on `key` has finished. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

export function objectKey(resource: string, namespace: string | undefined, name: string): string {
  return `${resource}/${namespace ?? ''}/${name}`;
}
