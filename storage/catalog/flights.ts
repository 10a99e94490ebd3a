// Concurrent snapshot reads of one server, shared without ever being stale. A read that has begun may miss a
// write committed after it began (by this replica, another one, or by hand): a caller who comes then must not
// be answered by it. So a caller shares only a read that has not begun yet: finding one running whose scope
// covers its own, it waits for the next read of that scope, which begins when the running one ends and which
// every caller coming meanwhile shares. Besides writes' fresh reads, at most two reads of a scope are under way:
// one running, one waiting.
import type { SnapshotScope } from './snapshot.ts';

interface Flight<V> {
  roles: ReadonlySet<string>;
  databases: ReadonlySet<string>;
  /** Whose contents it reads (snapshot.ts): every database's (undefined), none, or these and the roles' own. */
  contents: ReadonlySet<string> | 'none' | undefined;
  /** Whether it measures the databases' usage (snapshot.ts). */
  usage: boolean;
  result: Promise<V>;
  /** The read that begins when this one ends, shared by the callers who came while this one ran. */
  next?: Flight<V>;
}

function covers(flight: Flight<unknown>, scope: SnapshotScope): boolean {
  return (
    scope.roles.every((r) => flight.roles.has(r)) &&
    scope.databases.every((d) => flight.databases.has(d)) &&
    coversContents(flight.contents, scope.contents) &&
    (flight.usage || !scope.usage)
  );
}

/** A read of more roles reads the contents of the databases they touch too: a wider list covers a narrower one. */
function coversContents(read: Flight<unknown>['contents'], wanted: SnapshotScope['contents']): boolean {
  if (read === undefined || wanted === 'none') return true;
  if (wanted === undefined || read === 'none') return false;
  return wanted.every((d) => read.has(d));
}

function contentsOf(scope: SnapshotScope): Flight<unknown>['contents'] {
  return typeof scope.contents === 'object' ? new Set(scope.contents) : scope.contents;
}

function scopeOf(flight: Flight<unknown>): SnapshotScope {
  const { contents } = flight;
  return {
    roles: [...flight.roles],
    databases: [...flight.databases],
    ...(contents === undefined ? {} : { contents: contents === 'none' ? 'none' : [...contents] }),
    ...(flight.usage ? { usage: true } : {}),
  };
}

export class SharedReads<V> {
  private readonly running = new Set<Flight<V>>();

  constructor(private readonly read: (scope: SnapshotScope) => Promise<V>) {}

  /**
   * A read of `scope` (or of a wider one) that begins at this call or later. `fresh` begins one at once, as a
   * write wants: it waits for no running read.
   */
  get(scope: SnapshotScope, options: { fresh?: boolean } = {}): Promise<V> {
    if (options.fresh) return this.begin(scope).result;
    const running = [...this.running].filter((f) => covers(f, scope));
    const waiting = running.find((f) => f.next)?.next;
    if (waiting) return waiting.result;
    const behind = running[0];
    if (!behind) return this.begin(scope).result;
    behind.next = this.after(behind);
    return behind.next.result;
  }

  private begin(scope: SnapshotScope): Flight<V> {
    const flight: Flight<V> = {
      roles: new Set(scope.roles),
      databases: new Set(scope.databases),
      contents: contentsOf(scope),
      usage: scope.usage === true,
      result: this.read(scope),
    };
    this.track(flight);
    return flight;
  }

  /** The read that begins when `previous` ends, with its scope. */
  private after(previous: Flight<V>): Flight<V> {
    const scope = scopeOf(previous);
    let begin!: (read: Promise<V>) => void;
    const result = new Promise<V>((resolve) => (begin = resolve));
    const { roles, databases, contents, usage } = previous;
    const flight: Flight<V> = { roles, databases, contents, usage, result };
    const settled = () => {
      this.running.delete(previous);
      previous.next = undefined;
      this.track(flight);
      begin(this.read(scope));
    };
    previous.result.then(settled, settled);
    return flight;
  }

  private track(flight: Flight<V>): void {
    this.running.add(flight);
    const done = () => {
      // The waiting read, if any, has taken this one's place already.
      if (!flight.next) this.running.delete(flight);
    };
    flight.result.then(done, done);
  }
}
