// Secrets read again and again (a cluster's DSN at every write, every role's password at every list) are kept
// once read and forgotten as soon as the Secret watch says they changed. Memory answers only while that watch is
// open: then a change reaches the cache as fast as it reaches any controller's informer. When the watch is down,
// came back after a gap, or is not following at all (local mode's store answers from memory already), every read
// goes to the cluster. The one watch is shared: the reconciler's Secret follower subscribes to it too.
import type { SecretChanges, SecretData, SecretReader } from './types.ts';

export interface CachedSecrets {
  reader: SecretReader;
  /** Follows the Secret changes the shared watch sees, from now on, until stopped. */
  watch(changes: SecretChanges): { stop(): void };
  stop(): void;
}

/** Beyond this many Secrets kept, the oldest is forgotten. */
export const secretCacheCapacity = 10_000;

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function cachedSecrets(reader: SecretReader, watchSecrets: (changes: SecretChanges) => { stop(): void }): CachedSecrets {
  const kept = new Map<string, SecretData>();
  const subscribers = new Set<SecretChanges>();
  let open = false;
  // Moves at every change the watch tells: a read that began before a change keeps nothing.
  let changes = 0;
  const forget = (key?: string) => {
    changes++;
    if (key === undefined) kept.clear();
    else kept.delete(key);
  };
  const keep = (key: string, secret: SecretData, since: number) => {
    if (!open || changes !== since) return;
    if (kept.size >= secretCacheCapacity) kept.delete(kept.keys().next().value!);
    kept.set(key, secret);
  };
  const watch = watchSecrets({
    changed(namespace, name) {
      forget(keyOf(namespace, name));
      for (const s of subscribers) s.changed(namespace, name);
    },
    missed() {
      forget();
      for (const s of subscribers) s.missed();
    },
    failed(error, failures) {
      for (const s of subscribers) s.failed(error, failures);
    },
    following(now) {
      open = now;
      forget();
      for (const s of subscribers) s.following?.(now);
    },
  });
  return {
    reader: {
      async read(namespace, name) {
        const key = keyOf(namespace, name);
        const known = open ? kept.get(key) : undefined;
        if (known) return known;
        const since = changes;
        const secret = await reader.read(namespace, name);
        if (secret) keep(key, secret, since);
        return secret;
      },
      async readNamed(namespace, names) {
        const found = new Map<string, SecretData>();
        const missing: string[] = [];
        for (const name of names) {
          const known = open ? kept.get(keyOf(namespace, name)) : undefined;
          if (known) found.set(name, known);
          else missing.push(name);
        }
        if (missing.length === 0) return found;
        const since = changes;
        for (const [name, secret] of await reader.readNamed(namespace, missing)) {
          keep(keyOf(namespace, name), secret, since);
          found.set(name, secret);
        }
        return found;
      },
      // What a read began meanwhile may hold the old value: forgotten once the write is done.
      async create(namespace, name, data) {
        try {
          return await reader.create(namespace, name, data);
        } finally {
          forget(keyOf(namespace, name));
        }
      },
      async write(namespace, name, data, labels) {
        try {
          return await reader.write(namespace, name, data, labels);
        } finally {
          forget(keyOf(namespace, name));
        }
      },
    },
    watch(changes) {
      subscribers.add(changes);
      // One who subscribes to a watch open already hears so, as those before it did.
      if (open) changes.following?.(true);
      return { stop: () => subscribers.delete(changes) };
    },
    stop() {
      open = false;
      forget();
      watch.stop();
    },
  };
}
