// Live changes for watchers, from one LISTEN connection per store. A notification only wakes the feed up:
// what it delivers is read from the change log after the last resourceVersion it read, so every replica
// sees the writes of all the others in order, and after a broken connection it reconnects and reads what
// it missed.
import type pg from 'pg';
import { guardedClient } from '../connections.ts';
import { quoteIdent } from '../catalog/identifiers.ts';
import { Expired } from './errors.ts';
import type { Change } from './types.ts';
import { Backoff } from '../../lib/backoff.ts';

/** Changes committed here and held for an earlier one, at most (committed). */
const maxOwnChanges = 1_000;

/** Changes read in one snapshot of the log. */
export interface ChangeWindow {
  /** Changes after the requested resourceVersion, in order; empty when `expired`. */
  changes: Change[];
  /** The store's resourceVersion in that snapshot: the changes are complete up to it. */
  resourceVersion: bigint;
  /** The oldest resourceVersion the log can replay from. */
  oldest: bigint;
  /** The log no longer holds every change after the requested resourceVersion. */
  expired: boolean;
}

/** Reads the changes after `after` (none when undefined: then it reports the current resourceVersion only). */
export type ReadChanges = (after: bigint | undefined, resource?: string) => Promise<ChangeWindow>;

export interface WatchOptions {
  /** Deliver the changes after this resourceVersion; by default, those after the watch starts. */
  resourceVersion?: string;
  /** Only the changes of this resource. */
  resource?: string;
  /**
   * Called once when the watch ends on its own: Expired when the store cannot deliver every change (it was
   * disconnected from PostgreSQL for longer than the log keeps), or the error the listener threw.
   */
  onError?: (error: Error) => void;
}

/** A reader waiting for the feed to have delivered every change up to `resourceVersion`. */
interface ProgressWaiter {
  resourceVersion: bigint;
  done(reached: boolean): void;
}

interface Subscriber {
  listener: (change: Change) => void;
  resource: string | undefined;
  onError: ((error: Error) => void) | undefined;
  /** Changes up to this resourceVersion are behind the subscriber. */
  after: bigint;
  /** Live changes held while the subscriber's replay is read; undefined once it is live. */
  buffer: Change[] | undefined;
}

export class ChangeFeed {
  private readonly subscribers = new Set<Subscriber>();
  private readonly waiters = new Set<ProgressWaiter>();
  private client: pg.Client | undefined;
  private started: Promise<void> | undefined;
  /** The feed has read every change up to here. */
  private cursor: bigint | undefined;
  private reading = false;
  private readAgain = false;
  /** Between tries to reach PostgreSQL again: from 0.1–0.2 s, doubling up to 1–2 s. */
  private readonly retry = new Backoff({ firstMs: 200, maxMs: 2_000 });
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Changes committed here, waiting for an earlier one to be delivered (committed). */
  private readonly ownChanges = new Map<bigint, Change>();
  /** This process's writes under way (writing): a notification that comes meanwhile is most likely one of theirs. */
  private readonly writes = new Set<Promise<unknown>>();

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    private readonly read: ReadChanges,
  ) {}

  /**
   * Delivers the changes after `after` (replayed from the log), then live ones, each once and in order.
   * Resolves once the replay has been delivered; rejects with Expired when the log no longer holds it.
   */
  async subscribe(listener: (change: Change) => void, after: bigint | undefined, options: WatchOptions = {}): Promise<() => void> {
    await this.start();
    const subscriber: Subscriber = { listener, resource: options.resource, onError: options.onError, after: 0n, buffer: [] };
    const stop = () => void this.subscribers.delete(subscriber);
    // Registered before the replay is read: whatever commits later reaches the buffer (the feed's cursor is
    // at most the replay's resourceVersion), and the buffer drops what the replay already holds.
    this.subscribers.add(subscriber);
    let replay: ChangeWindow;
    try {
      replay = await this.read(after, options.resource);
    } catch (error) {
      stop();
      throw error;
    }
    if (replay.expired) {
      stop();
      throw Expired.tooOld(after!, replay.oldest);
    }
    if (!this.subscribers.has(subscriber)) return stop; // ended while replaying; onError has been called
    const buffered = subscriber.buffer!;
    subscriber.buffer = undefined;
    subscriber.after = after ?? replay.resourceVersion;
    for (const change of replay.changes) this.deliver(subscriber, change);
    if (subscriber.after < replay.resourceVersion) subscriber.after = replay.resourceVersion;
    for (const change of buffered) this.deliver(subscriber, change);
    return stop;
  }

  /**
   * Whether every change up to `resourceVersion` has been delivered to the subscribers: at once when it has, else
   * once a read of the log (started now) delivers it. False while the feed is not listening (its subscribers may
   * miss changes until it reconnects) or when `timeoutMs` passes first.
   */
  delivered(resourceVersion: bigint, timeoutMs: number): Promise<boolean> {
    if (this.cursor !== undefined && this.cursor >= resourceVersion) return Promise.resolve(true);
    if (!this.client || this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: ProgressWaiter = {
        resourceVersion,
        done: (reached) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
      timer.unref();
      this.waiters.add(waiter);
      // A change committed here may be on its way (committed): the log is read only if it is not.
      setImmediate(() => {
        if (this.waiters.has(waiter)) this.readChanges();
      });
    });
  }

  /**
   * A change this process has just committed: delivered at once when every one before it has been
   * (resourceVersions have no gaps), without waiting for its notification and a read of the log; one that
   * commits before an earlier one's writer hears of it waits for that one. A read of this process's own write
   * then waits for nothing; the changes of other replicas come from the log, in order, as before.
   */
  committed(change: Change): void {
    const resourceVersion = BigInt(change.resourceVersion);
    if (this.closed || this.cursor === undefined || resourceVersion <= this.cursor) return;
    // Bounded: what is dropped here, the log delivers.
    if (this.ownChanges.size >= maxOwnChanges) this.ownChanges.clear();
    this.ownChanges.set(resourceVersion, change);
    this.deliverOwn();
  }

  /**
   * A write of this process, which calls `committed` before it settles. A notification that comes while it is
   * under way waits for it (and the others then under way) before the log is read: the write's answer and its
   * notification come on two connections, and either may come first.
   */
  writing<T>(write: () => Promise<T>): Promise<T> {
    const underWay = write();
    this.writes.add(underWay);
    const settled = () => void this.writes.delete(underWay);
    underWay.then(settled, settled);
    return underWay;
  }

  /** The changes committed here that are next after the cursor, in order. */
  private deliverOwn(): void {
    for (const resourceVersion of this.ownChanges.keys()) if (resourceVersion <= this.cursor!) this.ownChanges.delete(resourceVersion);
    for (let next = this.ownChanges.get(this.cursor! + 1n); next; next = this.ownChanges.get(this.cursor! + 1n)) {
      this.ownChanges.delete(this.cursor! + 1n);
      this.publish(next);
      this.advance(this.cursor! + 1n);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.releaseWaiters();
    for (const timer of this.timers) clearTimeout(timer);
    this.subscribers.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private start(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('object store: closed'));
    this.started ??= this.connect().catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  /** LISTEN first, then read: a change that commits in between is both notified and read, never missed. */
  private async connect(): Promise<void> {
    const client = guardedClient(this.config, () => this.broken(client));
    client.on('end', () => this.broken(client));
    client.on('notification', (message) => this.notified(message.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.channel)}`);
      if (this.cursor === undefined) this.cursor = (await this.read(undefined)).resourceVersion;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retry.reset();
    this.readChanges(); // what was committed while no connection was listening
  }

  private broken(client: pg.Client): void {
    if (client !== this.client) return; // not (or no longer) the listening connection
    this.client = undefined;
    client.end().catch(() => undefined);
    this.releaseWaiters();
    this.later(() => this.reconnect());
  }

  private reconnect(): void {
    this.connect().catch(() => this.later(() => this.reconnect()));
  }

  /** Runs `action` after the retry delay, which doubles up to a maximum until PostgreSQL answers again. */
  private later(action: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) action();
    }, this.retry.next());
    timer.unref();
    this.timers.add(timer);
  }

  /**
   * A change was committed (its resourceVersion in the payload): the log is read unless it was delivered
   * already. The check waits for the I/O at hand, and for the writes of this process then under way: this
   * process's own write's answer often comes with it, or just after.
   */
  private notified(payload: string | undefined): void {
    const resourceVersion = /^[0-9]+$/.test(payload ?? '') ? BigInt(payload!) : undefined;
    const check = () => {
      if (resourceVersion !== undefined && this.cursor !== undefined && resourceVersion <= this.cursor) return;
      this.readChanges();
    };
    setImmediate(() => {
      if (this.writes.size === 0) check();
      else void Promise.allSettled([...this.writes]).then(check);
    });
  }

  /** Reads and delivers everything after the cursor; wake-ups that come in meanwhile are coalesced into one more read. */
  private readChanges(): void {
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    if (this.closed || this.cursor === undefined) return;
    this.reading = true;
    this.readAndDeliver()
      .catch((error: unknown) => {
        // Not PostgreSQL (that is retried): a fault of delivery itself. Every watcher ends with it and watches again.
        for (const subscriber of [...this.subscribers]) this.end(subscriber, error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => {
        this.reading = false;
      });
  }

  private async readAndDeliver(): Promise<void> {
    do {
      this.readAgain = false;
      let window: ChangeWindow;
      try {
        window = await this.read(this.cursor);
      } catch {
        // PostgreSQL unreachable for now: try again; a reconnection reads too.
        this.later(() => this.readChanges());
        return;
      }
      if (this.closed) return;
      this.retry.reset();
      if (window.expired) {
        // Changes were compacted before this replica read them: no watcher can be complete any more.
        const error = Expired.tooOld(this.cursor!, window.oldest);
        for (const subscriber of [...this.subscribers]) this.end(subscriber, error);
      }
      for (const change of window.changes) this.publish(change);
      // A change committed here may have been delivered past the read's snapshot meanwhile (committed).
      this.advance(window.resourceVersion > this.cursor! ? window.resourceVersion : this.cursor!);
      this.deliverOwn();
    } while (this.readAgain && !this.closed);
  }

  private advance(resourceVersion: bigint): void {
    this.cursor = resourceVersion;
    for (const waiter of [...this.waiters]) if (waiter.resourceVersion <= resourceVersion) waiter.done(true);
  }

  /** Readers waiting for progress stop waiting: the feed cannot tell them now. */
  private releaseWaiters(): void {
    for (const waiter of [...this.waiters]) waiter.done(false);
  }

  private publish(change: Change): void {
    for (const subscriber of [...this.subscribers]) {
      if (subscriber.buffer) subscriber.buffer.push(change);
      else this.deliver(subscriber, change);
    }
  }

  private deliver(subscriber: Subscriber, change: Change): void {
    const resourceVersion = BigInt(change.resourceVersion);
    if (resourceVersion <= subscriber.after || !this.subscribers.has(subscriber)) return;
    subscriber.after = resourceVersion;
    if (subscriber.resource !== undefined && subscriber.resource !== change.resource) return;
    try {
      subscriber.listener(change);
    } catch (error) {
      this.end(subscriber, error instanceof Error ? error : new Error(String(error)));
    }
  }

  private end(subscriber: Subscriber, error: Error): void {
    this.subscribers.delete(subscriber);
    subscriber.onError?.(error);
  }
}
