// Writes of one object, from requests and from the reconciler, one at a time: a correction must never run
// between a delete's SQL and its removal from the store (it would create again what the delete dropped).
export class ObjectLocks {
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Work a write goes on with after its answer (hold), by key. */
  private readonly held = new Map<string, Promise<void>>();

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

  /**
   * Keeps `key` locked until `work` settles, beyond the work that holds it now: what a write goes on with after
   * it answered (a create's status stored). Later work on the key waits for it, and so do reads that ask
   * (`settled`). Its failure is the caller's to handle.
   */
  hold(key: string, work: Promise<unknown>): void {
    const done = work.then(
      () => undefined,
      () => undefined,
    );
    const tail = Promise.all([this.tails.get(key), done]);
    this.tails.set(key, tail);
    this.held.set(key, done);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
      if (this.held.get(key) === done) this.held.delete(key);
    });
  }

  /** Resolves once the work held on every key that begins with `prefix` has settled. */
  async settled(prefix: string): Promise<void> {
    const pending = [...this.held].filter(([key]) => key.startsWith(prefix)).map(([, done]) => done);
    if (pending.length > 0) await Promise.all(pending);
  }
}

export function objectKey(resource: string, namespace: string | undefined, name: string): string {
  return `${resource}/${namespace ?? ''}/${name}`;
}

/** The beginning of the keys of a resource's objects in `namespace`, or in every namespace. */
export function keysIn(resource: string, namespace: string | undefined): string {
  return namespace ? `${resource}/${namespace}/` : `${resource}/`;
}
