// The object store (DESIGN.md, "Where state lives"): metadata, spec and stored status of every object, one
// resourceVersion counter and a change log that watches replay from a resourceVersion. It all lives in
// PostgreSQL (the local mode's embedded server, or --store-dsn), so replicas sharing the database see one
// state, fan changes out to each other with LISTEN/NOTIFY, and nothing is lost across a restart.
//
// Every write is one statement, a transaction of its own, that takes the next resourceVersion by locking the
// counter row: writes commit one at a time in resourceVersion order, which is the order watchers must see, and
// none holds the lock while a round trip goes by. An update or delete is written only if the row is still the
// one it was made from (compare and set).
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { connectionConfig } from '../catalog/dsn.ts';
import { identifierError } from '../catalog/identifiers.ts';
import type { StoreLocation } from '../catalog/eligibility.ts';
import { guardedPool, isConnectionFault, PreparedStatements } from '../connections.ts';
import { AlreadyExists, Conflict, Expired, NotFound, StoreError, Unavailable, qualifiedResource, type ObjectKey } from './errors.ts';
import { ObjectCache } from './cache.ts';
import { ChangeFeed, type ChangeWindow, type WatchOptions } from './feed.ts';
import { migrate, statements, type Statements } from './sql.ts';
import type { Change, ChangeType, Claim, ObjectList } from './types.ts';
import { decodeContinue, encodeContinue, parseResourceVersion } from './versions.ts';
import type { KubeObject } from '../../openapi/objects.ts';
import { rfc3339 } from '../../lib/time.ts';
import { afterThisTurn } from '../../lib/promises.ts';

export { AlreadyExists, BadRequest, Conflict, Expired, NotFound, StoreError, Unavailable, qualifiedResource } from './errors.ts';
export type { ObjectKey, StoreErrorReason } from './errors.ts';
export type { WatchOptions } from './feed.ts';
export type { Change, ChangeType, Claim, ObjectList } from './types.ts';

export interface ObjectStoreOptions {
  /** The schema that holds the store's tables; created when missing. */
  schema?: string;
  /** Pooled connections, besides the one that listens for changes. */
  maxConnections?: number;
  /** Told where each list and get was answered from: memory (cache.ts) or the store's tables. */
  onRead?: (read: { resource: string; from: 'memory' | 'store' }) => void;
  /**
   * This process is the store's only writer (local mode's own embedded server): every change is one it made, so
   * that a read from memory knows the store's resourceVersion without asking it (after the first time).
   */
  soleWriter?: boolean;
}

/** The store's resourceVersion, and the oldest one its change log still holds changes after (compacted_through). */
type StoreState = { resourceVersion: bigint; oldest: bigint };

/** The largest of some resourceVersions. */
const newest = (...values: bigint[]) => values.reduce((a, b) => (a > b ? a : b));

export interface Precondition {
  /** Refuse with Conflict unless the stored object still has this resourceVersion. */
  expectedResourceVersion?: string;
}

export interface ListOptions {
  /** Only this namespace; undefined or '' for all. */
  namespace?: string;
  /** At most this many items (none or 0: all), with a continue token when more follow. */
  limit?: number;
  /** From a previous page: the next page, as of that list's resourceVersion. */
  continue?: string;
}

// pg_control_system() is open to every role by default; where it is not, the location stays unknown.
const locationQuery = `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS "systemIdentifier", current_database() AS database`;

const continueExpired =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.';

interface ChangeRow {
  resource_version: string;
  resource: string;
  namespace: string;
  name: string;
  type: ChangeType;
  object: KubeObject;
}

function keyOf(resource: string, object: KubeObject): ObjectKey {
  const { name, namespace } = object.metadata ?? {};
  if (typeof name !== 'string' || name === '') throw new TypeError('object store: metadata.name is required');
  return { resource, namespace: namespace ?? '', name };
}

function describe(key: ObjectKey): string {
  return `${qualifiedResource(key.resource)} "${key.namespace ? `${key.namespace}/` : ''}${key.name}"`;
}

/** SQLSTATE of a duplicate key: of the objects' key, or of a claim's (server, kind, name). */
const uniqueViolation = '23505';

/**
 * Tries of a write whose row moved on meanwhile, or whose claim was released meanwhile: each try lost to a write
 * that landed, so they end; the bound only keeps a fault from looping.
 */
const writeAttempts = 50;

/**
 * The object's JSON text before and after its resourceVersion, which the write's statement puts between them: the
 * text is written out once, with a marker no object can hold (random, and checked to occur once) in its place.
 */
function aroundResourceVersion(object: KubeObject): [string, string] {
  for (;;) {
    const marker = randomBytes(12).toString('base64url');
    const json = JSON.stringify({ ...object, metadata: { ...object.metadata, resourceVersion: marker } });
    const at = json.indexOf(marker);
    if (json.indexOf(marker, at + 1) === -1) return [json.slice(0, at), json.slice(at + marker.length)];
  }
}

/**
 * Store errors pass through; a server that cannot be reached is Unavailable (503: clients retry); anything
 * else says what was being done.
 */
function storeError(error: unknown, doing: string): Error {
  if (error instanceof StoreError) return error;
  if (isConnectionFault(error)) return new Unavailable(doing);
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`object store: while ${doing}: ${message}`, { cause: error });
}

export class ObjectStore {
  private readonly sql: Statements;
  /** The statements every write and read sends, prepared once per connection. */
  private readonly prepared = new PreparedStatements();
  private readonly feed: ChangeFeed;
  /** Lists and gets from memory, kept current by the feed (cache.ts). */
  private readonly cache: ObjectCache;
  private closing: Promise<void> | undefined;
  private feedReads = 0;
  private stateReads = 0;
  /** The read of the store's resourceVersion the callers of this turn share (currentState). */
  private stateRead: Promise<StoreState> | undefined;
  /** As the only writer: the store's resourceVersion and oldest change kept, as this process last read or made them. */
  private known: StoreState | undefined;
  /** The newest resourceVersion this process wrote. */
  private newestWritten = 0n;

  private constructor(
    private readonly pool: pg.Pool,
    config: pg.ClientConfig,
    private readonly schema: string,
    /** The server and database the store lives in: no DatabaseCluster object may claim that database. */
    readonly location: StoreLocation | undefined,
    private readonly onRead: ObjectStoreOptions['onRead'] = undefined,
    private readonly soleWriter = false,
  ) {
    this.sql = statements(schema);
    // The notification channel is named after the schema: one change log per schema.
    const listenConfig = { ...config, application_name: 'postgres-apiserver watch', keepAlive: true };
    this.feed = new ChangeFeed(listenConfig, schema, (after, resource) => {
      this.feedReads++;
      return this.readChanges(after, resource);
    });
    this.cache = new ObjectCache({
      listAll: async (resource) => {
        const { items, resourceVersion } = await this.listFromStore(resource, {});
        return { items, resourceVersion: BigInt(resourceVersion) };
      },
      state: () => this.currentState(),
      subscribe: (listener, after, onEnd) => this.feed.subscribe(listener, after, { onError: onEnd }),
      delivered: (resourceVersion, timeoutMs) => this.feed.delivered(resourceVersion, timeoutMs),
    });
  }

  /** How many times the change feed has read the log: for the changes of other replicas (this one's come at once). */
  get changeLogReads(): number {
    return this.feedReads;
  }

  /** How many times the store was asked for its resourceVersion, by reads from memory (an only writer's once) and readiness. */
  get resourceVersionReads(): number {
    return this.stateReads;
  }

  /** Connects to the database `dsn` names and creates the schema and tables if they are missing. */
  static async open(dsn: string, options: ObjectStoreOptions = {}): Promise<ObjectStore> {
    const schema = options.schema ?? 'apiserver';
    const invalid = identifierError(schema, 'schema');
    if (invalid) throw new Error(`object store: schema: ${invalid.message}`);
    const config = connectionConfig(dsn);
    const pool = guardedPool({
      ...config,
      max: options.maxConnections ?? 10,
      // A server that does not answer makes requests fail (503) rather than wait without end.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      application_name: 'postgres-apiserver store',
      // A writer holds the write lock until it commits: one that hangs must not stop every other writer for long.
      lock_timeout: 10_000,
      idle_in_transaction_session_timeout: 30_000,
    });
    let location: StoreLocation | undefined;
    try {
      const client = await pool.connect();
      try {
        await migrate(client, schema);
        location = await client.query<StoreLocation>(locationQuery).then(
          ({ rows }) => rows[0],
          () => undefined,
        );
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw storeError(error, 'opening the store');
    }
    return new ObjectStore(pool, config, schema, location, options.onRead, options.soleWriter);
  }

  /** Ends every watch and connection; calling it again waits for the first call. */
  close(): Promise<void> {
    this.closing ??= this.feed.close().then(() => this.pool.end());
    return this.closing;
  }

  /**
   * Stores a new object with a new uid (unless given), resourceVersion and creationTimestamp, and generation 1 unless it
   * has one. AlreadyExists when the key is taken; a Conflict naming the holder when another object holds a claim.
   */
  async create<T extends KubeObject>(resource: string, object: T, claims: readonly Claim[] = []): Promise<T> {
    const key = keyOf(resource, object);
    const doing = `creating ${describe(key)}`;
    // A uid given by the caller is kept: the API server names it before admission, as kube-apiserver does.
    const uid = object.metadata.uid ?? randomUUID();
    const metadata = { ...object.metadata, uid, creationTimestamp: rfc3339(), generation: object.metadata.generation ?? 1 };
    const created: T = { ...object, metadata };
    const claimed = [...new Map(claims.map((c) => [`${c.server}\0${c.kind}\0${c.name}`, c])).values()];
    const columns = [claimed.map((c) => c.server), claimed.map((c) => c.kind), claimed.map((c) => c.name)];
    try {
      for (let attempt = 1; ; attempt++) {
        const written = await this.write(key, 'ADDED', created, uid, columns).catch(async (error: unknown) => {
          if ((error as { code?: string }).code !== uniqueViolation) throw error;
          // The key taken is AlreadyExists, whatever the claims would say; else the claim's holder is named.
          if ((error as { table?: string }).table !== 'claims' || (await this.stored(key))) throw new AlreadyExists(key);
          for (const claim of claimed) await this.heldElsewhere(this.pool, key, uid, claim);
          return undefined; // held by none now: released since the insert met it, so the create is tried again
        });
        if (written) return written;
        if (attempt === writeAttempts) throw new Conflict(key, 'a name it claims was taken and released while it was created');
      }
    } catch (error) {
      throw storeError(error, doing);
    }
  }

  /**
   * Replaces an object; the caller computes generation, the store keeps uid and creationTimestamp and gives
   * a new resourceVersion. NotFound when missing; Conflict on a stale expectedResourceVersion or another uid.
   */
  async update<T extends KubeObject>(resource: string, object: T, precondition: Precondition = {}): Promise<T> {
    const key = keyOf(resource, object);
    return this.replace(`updating ${describe(key)}`, key, 'MODIFIED', precondition, (current) => {
      const { uid, creationTimestamp } = current.metadata;
      if (object.metadata.uid !== undefined && object.metadata.uid !== uid) {
        throw new Conflict(key, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${object.metadata.uid}`);
      }
      return { ...object, metadata: { ...object.metadata, uid, creationTimestamp } };
    });
  }

  /**
   * Removes an object and its claims and returns its last state, with the deletion's resourceVersion. NotFound,
   * Conflict as update.
   */
  async delete<T extends KubeObject = KubeObject>(
    resource: string,
    namespace: string,
    name: string,
    precondition: Precondition = {},
  ): Promise<T> {
    const key = { resource, namespace, name };
    return this.replace(`deleting ${describe(key)}`, key, 'DELETED', precondition, (current) => current as T);
  }

  /**
   * Claims names on a PostgreSQL server for a stored object (one stored before its server could be read): a
   * Conflict naming the holder when another object has one. Claims the object holds already are kept.
   */
  async claim(resource: string, object: KubeObject, claims: readonly Claim[]): Promise<void> {
    if (claims.length === 0) return;
    const key = keyOf(resource, object);
    await this.transaction(`claiming names for ${describe(key)}`, 'BEGIN', (tx) =>
      this.takeClaims(tx, key, String(object.metadata.uid), claims),
    );
  }

  /** For a dry run: the Conflict `claim` would meet, taking nothing. */
  async checkClaims(resource: string, object: KubeObject, claims: readonly Claim[]): Promise<void> {
    if (claims.length === 0) return;
    const key = keyOf(resource, object);
    await this.snapshot(`checking the names ${describe(key)} claims`, async (tx) => {
      for (const claim of claims) await this.heldElsewhere(tx, key, String(object.metadata.uid), claim);
    });
  }

  private async takeClaims(tx: pg.PoolClient, key: ObjectKey, uid: string, claims: readonly Claim[]): Promise<void> {
    for (const claim of claims) {
      const { rowCount } = await tx.query(this.sql.claim, [
        claim.server,
        claim.kind,
        claim.name,
        uid,
        key.resource,
        key.namespace,
        key.name,
      ]);
      // Taken now, or held already: by this object, or by another (a Conflict naming it).
      if (!rowCount) await this.heldElsewhere(tx, key, uid, claim);
    }
  }

  private async heldElsewhere(reader: pg.Pool | pg.PoolClient, key: ObjectKey, uid: string, claim: Claim): Promise<void> {
    const { rows } = await reader.query<{ uid: string; resource: string; namespace: string; object_name: string }>(this.sql.claimHolder, [
      claim.server,
      claim.kind,
      claim.name,
    ]);
    const holder = rows[0];
    if (!holder || holder.uid === uid) return;
    const owner = `${qualifiedResource(holder.resource)} "${holder.namespace ? `${holder.namespace}/` : ''}${holder.object_name}"`;
    throw new Conflict(key, `${claim.kind} "${claim.name}" on this PostgreSQL server belongs to ${owner}`);
  }

  async get<T extends KubeObject = KubeObject>(resource: string, namespace: string, name: string): Promise<T> {
    const key = { resource, namespace, name };
    const read = async () => {
      const cached = await this.cache.get(resource, namespace, name);
      this.onRead?.({ resource, from: cached === undefined ? 'store' : 'memory' });
      return cached === undefined ? this.stored(key) : (cached ?? undefined);
    };
    const object = await read().catch((error: unknown) => {
      throw storeError(error, `reading ${describe(key)}`);
    });
    if (!object) throw new NotFound(key);
    return object as T;
  }

  /** The current objects whose field at `path` (e.g. ['spec', 'roleName']) is one of `values`, by namespace and name. */
  async find<T extends KubeObject = KubeObject>(resource: string, path: readonly string[], values: readonly string[]): Promise<T[]> {
    const read = async () => {
      const cached = await this.cache.find(resource, path, values);
      this.onRead?.({ resource, from: cached ? 'memory' : 'store' });
      return (
        (cached as T[] | undefined) ??
        (await this.prepared.query<{ object: T }>(this.pool, this.sql.find(path), [resource, values])).rows.map((row) => row.object)
      );
    };
    return read().catch((error: unknown) => {
      throw storeError(error, `finding ${qualifiedResource(resource)} by ${path.join('.')}`);
    });
  }

  /**
   * Objects sorted by namespace then name, with the resourceVersion they are consistent with: the current
   * objects (every write committed before the call is in them, whichever replica made it). A continued list is
   * read as of its first page's resourceVersion; Expired once the change log no longer covers it. Served from
   * memory where it can be (cache.ts); objects from there are shared: treat them as read-only.
   */
  async list<T extends KubeObject = KubeObject>(resource: string, options: ListOptions = {}): Promise<ObjectList<T>> {
    const from = options.continue ? decodeContinue(options.continue) : undefined;
    const limit = options.limit !== undefined && options.limit > 0 ? Math.floor(options.limit) : undefined;
    const cached = await this.cache.list(resource, { namespace: options.namespace, limit, from }).catch((error: unknown) => {
      throw storeError(error, `listing ${qualifiedResource(resource)}`);
    });
    if (cached && 'expiredAt' in cached) throw new Expired(continueExpired);
    this.onRead?.({ resource, from: cached ? 'memory' : 'store' });
    return (cached as ObjectList<T> | undefined) ?? this.listFromStore(resource, { ...options, limit });
  }

  /** The list read from the store's tables, in one snapshot. */
  private listFromStore<T extends KubeObject = KubeObject>(resource: string, options: ListOptions): Promise<ObjectList<T>> {
    const from = options.continue ? decodeContinue(options.continue) : undefined;
    const limit = options.limit;
    return this.snapshot(`listing ${qualifiedResource(resource)}`, async (tx) => {
      const state = await this.state(tx);
      const at = from?.resourceVersion ?? state.resourceVersion;
      if (at < state.oldest) throw new Expired(continueExpired);
      const parameters = [
        resource,
        String(at),
        options.namespace || null,
        from?.namespace ?? null,
        from?.name ?? null,
        limit === undefined ? null : limit + 1,
      ];
      const { rows } = await tx.query<{ namespace: string; name: string; object: T }>(this.sql.listAt, parameters);
      const page = rows.slice(0, limit);
      const list: ObjectList<T> = { items: page.map((row) => row.object), resourceVersion: String(at) };
      const last = page.at(-1);
      if (last && rows.length > page.length)
        list.continue = encodeContinue({ resourceVersion: at, namespace: last.namespace, name: last.name });
      return list;
    });
  }

  /** Every change after `resourceVersion`, in order (of `resource` only, if given). Expired when the log no longer holds them. */
  async changesSince(resourceVersion: string, resource?: string): Promise<Change[]> {
    const after = parseResourceVersion(resourceVersion);
    const window = await this.readChanges(after, resource);
    if (window.expired) throw Expired.tooOld(after, window.oldest);
    return window.changes;
  }

  /**
   * Calls `listener` with every change after `options.resourceVersion` (default: after the watch starts), each
   * once and in resourceVersion order, the writes of every replica included. Resolves, once the changes
   * already in the log have been delivered, to a function that stops the watch. Rejects with Expired when the
   * log no longer holds them. Changes are shared between watchers: treat them as read-only.
   */
  async watch(listener: (change: Change) => void, options: WatchOptions = {}): Promise<() => void> {
    const after = options.resourceVersion === undefined ? undefined : parseResourceVersion(options.resourceVersion);
    return this.feed.subscribe(listener, after, options).catch((error: unknown) => {
      throw storeError(error, 'starting a watch');
    });
  }

  /** The store's resourceVersion, read from it (readiness asks this: the store must answer). */
  async currentResourceVersion(): Promise<string> {
    return String((await this.storeState()).resourceVersion);
  }

  /**
   * What reads from memory ask first: the store's resourceVersion now, or, as its only writer, what this process
   * knows of it (the store holds nothing this process has not written).
   */
  private currentState(): Promise<StoreState> {
    return this.known ? Promise.resolve({ ...this.known }) : this.storeState();
  }

  /**
   * The store's resourceVersion now. Reads from memory ask it first, often several at once (a write's admission
   * reads a few objects together): the callers of one turn of the event loop share one read, which begins after
   * the last of them asked, so that it still sees every write committed before each call.
   */
  private storeState(): Promise<StoreState> {
    this.stateRead ??= afterThisTurn().then(() => {
      this.stateRead = undefined;
      this.stateReads++;
      return this.state(this.pool).catch((error: unknown) => {
        throw storeError(error, 'reading the resourceVersion');
      });
    });
    return this.stateRead;
  }

  /** As the only writer, what a read of the store's state says, and what this process wrote since it began, is known. */
  private observe(state: StoreState): void {
    if (!this.soleWriter) return;
    this.known = {
      resourceVersion: newest(state.resourceVersion, this.newestWritten, this.known?.resourceVersion ?? 0n),
      oldest: newest(state.oldest, this.known?.oldest ?? 0n),
    };
  }

  /**
   * Removes all but the newest `keep` changes; watches and continued lists from before them get Expired.
   * Returns how many were removed. Called periodically by the owner of the store.
   */
  async compact(keep: number): Promise<number> {
    if (!Number.isSafeInteger(keep) || keep < 0) throw new RangeError(`object store: cannot keep ${keep} changes`);
    let horizon: string | undefined;
    const removed = await this.transaction('compacting the change log', 'BEGIN ISOLATION LEVEL READ COMMITTED', async (tx) => {
      const { rows } = await tx.query<{ resource_version: string }>(this.sql.compactionHorizon, [keep]);
      horizon = rows[0]?.resource_version;
      if (horizon === undefined) return 0;
      await tx.query(this.sql.compact, [horizon]);
      return (await tx.query(this.sql.dropChanges, [horizon])).rowCount ?? 0;
    });
    if (this.known && horizon !== undefined) this.known.oldest = newest(this.known.oldest, BigInt(horizon));
    return removed;
  }

  /**
   * An update or delete of the object as it is now: `next` makes the new object from the current one, which is
   * taken from memory where it is there (no read), and is written only if the row is still that one. A row that
   * has moved on (or a stale copy in memory) is read again from the store, and the change made anew from it.
   */
  private async replace<T extends KubeObject>(
    doing: string,
    key: ObjectKey,
    type: 'MODIFIED' | 'DELETED',
    precondition: Precondition,
    next: (current: KubeObject) => T,
  ): Promise<T> {
    let current = this.cache.peek(key.resource, key.namespace, key.name);
    for (let attempt = 1; ; attempt++) {
      const fresh = current === undefined;
      try {
        current ??= await this.stored(key);
        if (!current) throw new NotFound(key);
        const expected = precondition.expectedResourceVersion;
        if (expected !== undefined && expected !== current.metadata.resourceVersion) throw new Conflict(key);
        const written = await this.write(key, type, next(current), current.metadata.resourceVersion);
        if (written) return written;
      } catch (error) {
        // What a copy from memory says is read again from the store before it is believed.
        if (fresh || !(error instanceof NotFound || error instanceof Conflict)) throw storeError(error, doing);
      }
      if (fresh && attempt >= writeAttempts) throw new Conflict(key, 'it was changed by other writes every time it was written');
      current = undefined;
    }
  }

  /**
   * One write in one statement (sql.ts, `written`): the object's row with the next resourceVersion, its entry in
   * the change log and the notification. Undefined when the row is no longer at the resourceVersion expected.
   */
  private async write<T extends KubeObject>(
    key: ObjectKey,
    type: ChangeType,
    object: T,
    uidOrExpected: string | undefined,
    claims: string[][] = [],
  ): Promise<T | undefined> {
    const [before, after] = aroundResourceVersion(object);
    const parameters = [key.resource, key.namespace, key.name, uidOrExpected, before, after, this.schema, ...claims];
    return this.feed.writing(async () => {
      const { rows } = await this.prepared.query<{ resource_version: string }>(this.pool, this.sql.written[type], parameters);
      const resourceVersion = rows[0]?.resource_version;
      if (resourceVersion === undefined) return undefined;
      // As the log holds it: a copy no caller shares.
      const logged = JSON.parse(before + resourceVersion + after) as KubeObject;
      this.feed.committed({ type, ...key, resourceVersion, object: logged });
      this.wrote(BigInt(resourceVersion));
      return { ...object, metadata: { ...object.metadata, resourceVersion } };
    });
  }

  private async stored(key: ObjectKey): Promise<KubeObject | undefined> {
    const { rows } = await this.prepared.query<{ object: KubeObject }>(this.pool, this.sql.get, [key.resource, key.namespace, key.name]);
    return rows[0]?.object;
  }

  /** Alone it goes prepared; inside a transaction unprepared, as PreparedStatements asks. */
  private async state(query: pg.Pool | pg.PoolClient): Promise<StoreState> {
    type State = { resource_version: string; compacted_through: string };
    const { rows } =
      query === this.pool ? await this.prepared.query<State>(this.pool, this.sql.state, []) : await query.query<State>(this.sql.state);
    const state = { resourceVersion: BigInt(rows[0]!.resource_version), oldest: BigInt(rows[0]!.compacted_through) };
    this.observe(state);
    return state;
  }

  private wrote(resourceVersion: bigint): void {
    this.newestWritten = newest(this.newestWritten, resourceVersion);
    if (this.known) this.known.resourceVersion = newest(this.known.resourceVersion, resourceVersion);
  }

  /** The changes after `after` and the resourceVersion they are complete up to, read in one snapshot. */
  private readChanges(after: bigint | undefined, resource?: string): Promise<ChangeWindow> {
    return this.snapshot('reading the change log', async (tx) => {
      const { resourceVersion, oldest } = await this.state(tx);
      const window: ChangeWindow = { changes: [], resourceVersion, oldest, expired: false };
      if (after === undefined) return window;
      if (after < oldest) return { ...window, expired: true };
      const { rows } = await tx.query<ChangeRow>(this.sql.changesAfter, [String(after), resource ?? null]);
      const changes = rows.map((row) => ({
        type: row.type,
        resource: row.resource,
        namespace: row.namespace,
        name: row.name,
        resourceVersion: row.resource_version,
        object: row.object,
      }));
      return { ...window, changes };
    });
  }

  private snapshot<T>(doing: string, body: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.transaction(doing, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', body);
  }

  private async transaction<T>(doing: string, begin: string, body: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw storeError(error, doing);
    });
    let failed = false;
    try {
      await client.query(begin);
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      failed = true;
      throw storeError(error, doing);
    } finally {
      // A connection that cannot even roll back is broken: it is closed rather than returned to the pool.
      const healthy =
        !failed ||
        (await client.query('ROLLBACK').then(
          () => true,
          () => false,
        ));
      client.release(!healthy);
    }
  }
}
