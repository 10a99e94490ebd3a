// Lists and gets from memory, as kube-apiserver's watch cache serves them: per resource, the current objects,
// filled by one list and kept current by the change feed (every replica's writes). A read is consistent: it
// first makes sure the cache holds every change up to the store's current resourceVersion (one small query,
// as kube-apiserver's consistent reads from cache, KEP-2340), so a write answered by any replica before the
// read began is in it. Whatever the cache cannot answer so (it is filling, the feed is not listening, a
// continued list of a resource that changed since its first page) is read from the store, as before.
// Memory holds the objects that exist: a deletion removes its entry, and a cache whose feed ended is dropped.
import type { Change, ObjectList } from './types.ts';
import { encodeContinue, type ContinueToken } from './versions.ts';
import type { KubeObject } from '../../openapi/objects.ts';

/** What the cache reads from the store. */
export interface CacheSource {
  /** Every object of the resource, and the store's resourceVersion they are consistent with. */
  listAll(resource: string): Promise<{ items: KubeObject[]; resourceVersion: bigint }>;
  /** The store's resourceVersion now, and the oldest one its log can replay from. */
  state(): Promise<{ resourceVersion: bigint; oldest: bigint }>;
  /** Every change after `after`, then live ones, in order; resolves once live. */
  subscribe(listener: (change: Change) => void, after: bigint, onEnd: () => void): Promise<() => void>;
  /** Whether the feed has delivered every change up to `resourceVersion` (false when it cannot tell within `timeoutMs`). */
  delivered(resourceVersion: bigint, timeoutMs: number): Promise<boolean>;
}

export interface CachedListOptions {
  namespace?: string | undefined;
  limit?: number | undefined;
  from?: ContinueToken | undefined;
}

/** A consistent read waits this long for the feed to catch up, then reads the store (kube-apiserver waits 3 s too). */
const catchUpMs = 3_000;

/** After a fill that failed (the feed could not listen, say), reads go to the store this long before one tries again. */
const refillAfterMs = 1_000;

function keyOf(namespace: string, name: string): string {
  return `${namespace}\u0000${name}`;
}

/**
 * The field at `path` as the store's find reads it (`object #>> path`): a string as it is, any other value as its
 * JSON text, nothing where the path leads to no value or to null.
 */
function fieldText(object: KubeObject, path: readonly string[]): string | undefined {
  let value: unknown = object;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Namespace, then name, in byte order, as the store sorts (ORDER BY namespace, name in the C collation). */
function compareKeys(a: ContinueToken | KubeObject, b: KubeObject): number {
  const [an, aname] = 'metadata' in a ? [a.metadata.namespace ?? '', a.metadata.name] : [a.namespace, a.name];
  const [bn, bname] = [b.metadata.namespace ?? '', b.metadata.name];
  return byteOrder(an, bn) || byteOrder(aname, bname);
}

/** UTF-8 byte order, which is code point order: UTF-16 puts astral code points (surrogates) below U+E000–U+FFFF. */
function byteOrder(a: string, b: string): number {
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (isSurrogate(x) !== isSurrogate(y)) return isSurrogate(x) ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

function isSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdfff;
}

/** The keys of a resource's objects by the text of one field (fieldText). */
interface FieldIndex {
  path: readonly string[];
  byValue: Map<string, Set<string>>;
}

function indexObject(index: FieldIndex, key: string, object: KubeObject): void {
  const value = fieldText(object, index.path);
  if (value === undefined) return;
  let keys = index.byValue.get(value);
  if (!keys) index.byValue.set(value, (keys = new Set()));
  keys.add(key);
}

/** Forgets the object's entry, and the value once no object has it: values of objects gone leave nothing behind. */
function unindexObject(index: FieldIndex, key: string, object: KubeObject): void {
  const value = fieldText(object, index.path);
  const keys = value === undefined ? undefined : index.byValue.get(value);
  keys?.delete(key);
  if (keys?.size === 0) index.byValue.delete(value!);
}

/** One resource's objects, current up to `through`. */
class ResourceCache {
  private readonly objects = new Map<string, KubeObject>();
  /** The objects in list order, made again after a change, when a list needs them. */
  private sorted: KubeObject[] | undefined;
  /** Every change up to here is applied (of every resource: the others' move it on too). */
  through: bigint;
  /** The newest change of this resource applied: a continued list as of a resourceVersion since then is current. */
  private lastChanged: bigint;
  /** Stops the change feed's deliveries to it. */
  unsubscribe: () => void = () => undefined;
  /** Per path found by (the path's keys joined by NUL), the keys of the objects by the field's text: made at the first find. */
  private readonly indexes = new Map<string, FieldIndex>();

  constructor(
    readonly resource: string,
    items: readonly KubeObject[],
    /** The resourceVersion it was filled at: nothing is known of changes before it. */
    readonly filledAt: bigint,
  ) {
    for (const o of items) this.objects.set(keyOf(o.metadata.namespace ?? '', o.metadata.name), o);
    this.through = filledAt;
    this.lastChanged = filledAt;
  }

  apply(change: Change): void {
    const resourceVersion = BigInt(change.resourceVersion);
    if (resourceVersion <= this.through) return;
    this.through = resourceVersion;
    if (change.resource !== this.resource) return;
    this.lastChanged = resourceVersion;
    this.sorted = undefined;
    const key = keyOf(change.namespace, change.name);
    const before = this.objects.get(key);
    if (change.type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, change.object);
    for (const index of this.indexes.values()) {
      if (before) unindexObject(index, key, before);
      if (change.type !== 'DELETED') indexObject(index, key, change.object);
    }
  }

  /** The objects whose field at `path` is one of `values`, by namespace and name. */
  find(path: readonly string[], values: readonly string[]): KubeObject[] {
    const name = path.join('\u0000');
    let index = this.indexes.get(name);
    if (!index) {
      index = { path, byValue: new Map() };
      for (const [key, object] of this.objects) indexObject(index, key, object);
      this.indexes.set(name, index);
    }
    const keys = new Set(values.flatMap((value) => [...(index.byValue.get(value) ?? [])]));
    return [...keys].map((key) => this.objects.get(key)!).sort(compareKeys);
  }

  get(namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(keyOf(namespace, name));
  }

  /** Whether the objects now are the objects as of `resourceVersion`. */
  unchangedSince(resourceVersion: bigint): boolean {
    return resourceVersion >= this.filledAt && resourceVersion >= this.lastChanged;
  }

  /** One page, as the store pages: after `from`, `limit` items at most, a continue token when more follow. */
  list(options: CachedListOptions, at: bigint): ObjectList {
    this.sorted ??= [...this.objects.values()].sort(compareKeys);
    const from = options.from;
    let start = 0;
    if (from) {
      // The first object after the token's key.
      let end = this.sorted.length;
      while (start < end) {
        const middle = (start + end) >>> 1;
        if (compareKeys(from, this.sorted[middle]!) >= 0) start = middle + 1;
        else end = middle;
      }
    }
    const items: KubeObject[] = [];
    let more = false;
    for (let i = start; i < this.sorted.length; i++) {
      const object = this.sorted[i]!;
      if (options.namespace && object.metadata.namespace !== options.namespace) continue;
      if (options.limit !== undefined && items.length === options.limit) {
        more = true;
        break;
      }
      items.push(object);
    }
    const list: ObjectList = { items, resourceVersion: String(at) };
    const last = items.at(-1);
    if (more && last)
      list.continue = encodeContinue({ resourceVersion: at, namespace: last.metadata.namespace ?? '', name: last.metadata.name });
    return list;
  }
}

/** The caches of the resources that have been read. Objects are shared between readers: treat them as read-only. */
export class ObjectCache {
  private readonly ready = new Map<string, ResourceCache>();
  private readonly filling = new Map<string, Promise<void>>();
  /** When a resource whose fill failed may be filled again. */
  private readonly failedUntil = new Map<string, number>();

  constructor(private readonly source: CacheSource) {}

  /**
   * A consistent page of the resource's objects, with `oldest` checked for a continued list (the store's Expired
   * is the caller's to throw), or undefined when the store must answer.
   */
  async list(resource: string, options: CachedListOptions): Promise<ObjectList | { expiredAt: bigint } | undefined> {
    const current = await this.current(resource);
    if (!current) return undefined;
    const { cache, oldest } = current;
    const from = options.from;
    if (!from) return cache.list(options, cache.through);
    if (from.resourceVersion < oldest) return { expiredAt: from.resourceVersion };
    // A continued list is read as of its first page: the cache is that only while nothing of it changed since.
    return cache.unchangedSince(from.resourceVersion) ? cache.list(options, from.resourceVersion) : undefined;
  }

  /**
   * The objects whose field at `path` is one of `values`, as the store's find answers, or undefined when the store
   * must answer. Only a resource held already is found in memory: a find never fills one (Events, found by the
   * object they are about and never listed, would all be held).
   */
  async find(resource: string, path: readonly string[], values: readonly string[]): Promise<KubeObject[] | undefined> {
    if (!this.ready.has(resource)) return undefined;
    return (await this.current(resource))?.cache.find(path, values);
  }

  /** The object as the store holds it now (null: there is none), or undefined when the store must answer. */
  async get(resource: string, namespace: string, name: string): Promise<KubeObject | null | undefined> {
    const current = await this.current(resource);
    if (!current) return undefined;
    return current.cache.get(namespace, name) ?? null;
  }

  /**
   * The object as memory holds it, without asking the store whether memory is current: for a write that checks
   * the row is still this one. Undefined when memory does not hold it.
   */
  peek(resource: string, namespace: string, name: string): KubeObject | undefined {
    return this.ready.get(resource)?.get(namespace, name);
  }

  /** The resource's cache once it holds every change up to the store's current resourceVersion. */
  private async current(resource: string): Promise<{ cache: ResourceCache; oldest: bigint } | undefined> {
    const cache = this.ready.get(resource);
    if (!cache) {
      this.fill(resource);
      return undefined;
    }
    // What the cache held before the store is asked: a store that answers less went back. The cache may move on
    // past the answer meanwhile (a write of this process delivered while the read was on its way): it then holds
    // more than the read, not less.
    const known = cache.through;
    const { resourceVersion, oldest } = await this.source.state();
    if (resourceVersion < known) {
      // The store went back (restored from an older copy, or started anew): what the cache holds is not in it.
      if (this.ready.get(resource) === cache) this.ready.delete(resource);
      cache.unsubscribe();
      this.fill(resource);
      return undefined;
    }
    if (cache.through < resourceVersion && !(await this.source.delivered(resourceVersion, catchUpMs))) return undefined;
    // Dropped meanwhile (its feed ended), or a newer cache of the resource took its place.
    if (this.ready.get(resource) !== cache || cache.through < resourceVersion) return undefined;
    return { cache, oldest };
  }

  /** Fills the resource's cache in the background (the store answers meanwhile); once at a time per resource. */
  private fill(resource: string): void {
    if (this.filling.has(resource) || Date.now() < (this.failedUntil.get(resource) ?? 0)) return;
    this.failedUntil.delete(resource);
    const filling = this.load(resource)
      // The store answers meanwhile; a read after the pause tries again.
      .catch(() => void this.failedUntil.set(resource, Date.now() + refillAfterMs))
      .finally(() => this.filling.delete(resource));
    this.filling.set(resource, filling);
  }

  private async load(resource: string): Promise<void> {
    const { items, resourceVersion } = await this.source.listAll(resource);
    const cache = new ResourceCache(resource, items, resourceVersion);
    // The feed ends a subscription it cannot keep complete (changes compacted while it was away): the cache goes.
    let ended = false;
    cache.unsubscribe = await this.source.subscribe(
      (change) => cache.apply(change),
      resourceVersion,
      () => {
        ended = true;
        if (this.ready.get(resource) === cache) this.ready.delete(resource);
      },
    );
    if (!ended) this.ready.set(resource, cache);
  }
}
