// The fast path for what event triggers never see (storage/catalog/fingerprint.ts): twice a second, one query
// in the cluster's DSN database digests the managed roles' attributes, passwords and memberships and the
// managed databases' privileges; when the digest changes, the cluster's loop is nudged, as a notification
// nudges it. It runs with the loop (on the replica that owns the cluster), through the cluster's pool, and never twice at
// once: a tick that finds the last query still running is skipped. Our own corrections change the digest too;
// the pass that causes finds nothing to do, and the digest settles.
import type { Clock } from '../lib/clock.ts';
import { failure, type Logger } from '../lib/log.ts';
import type { ServerCatalog } from '../storage/catalog/server.ts';

/**
 * How often the digest is read: a change waits for the next read, then for the pass under way (if one is) and
 * the one it asks for. Half a second keeps that within 2 s when passes take a few hundred milliseconds.
 */
export const fingerprintIntervalMs = 500;

/** The one method of a cluster's catalog the watch uses. */
export type Fingerprinted = Pick<ServerCatalog, 'fingerprint'>;

interface Scope {
  catalog: Fingerprinted;
  roles: readonly string[];
  databases: readonly string[];
  /** The names, sorted: a digest is compared only with one of the same names through the same catalog. */
  key: string;
}

function sameScope(a: Scope, b: Scope): boolean {
  return a.catalog === b.catalog && a.key === b.key;
}

export class FingerprintWatch {
  private catalog: Fingerprinted | undefined;
  private scope: Scope | undefined;
  /** "role/<name>" or "database/<name>" → when its object was created: kept until a pass that read the objects after. */
  private readonly added = new Map<string, number>();
  /** The last digest read, and the scope it was read for: only digests of the same scope are compared. */
  private last: { scope: Scope; fingerprint: string } | undefined;
  /** The digest the pass under way started from. */
  private atPassStart: { scope: Scope; fingerprint: string } | undefined;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;

  constructor(
    /** Called when the digest changed: something may have drifted. */
    private readonly onChange: () => void,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly everyMs = fingerprintIntervalMs,
  ) {}

  /**
   * What to digest from now on (called at the end of every pass, with the names it read at `readAt`; undefined
   * for names it could not read, which stay as they were): the names added since are kept. No catalog, or
   * nothing managed, stops the reads.
   */
  follow(
    catalog: Fingerprinted | undefined,
    roles: readonly string[] | undefined,
    databases: readonly string[] | undefined,
    readAt = -Infinity,
  ): void {
    for (const [name, at] of this.added) if (at < readAt) this.added.delete(name);
    const since = (kind: 'role' | 'database') =>
      [...this.added.keys()].filter((k) => k.startsWith(`${kind}/`)).map((k) => k.slice(kind.length + 1));
    this.catalog = catalog;
    this.setScope(
      [...new Set([...(roles ?? this.scope?.roles ?? []), ...since('role')])],
      [...new Set([...(databases ?? this.scope?.databases ?? []), ...since('database')])],
    );
  }

  /** A role or database managed from now on (its object was just created): digested from the next read, without waiting for a pass. */
  add(kind: 'role' | 'database', name: string): void {
    this.added.set(`${kind}/${name}`, this.clock.now());
    if (!this.scope) return;
    const { roles, databases } = this.scope;
    if (kind === 'role' && !roles.includes(name)) this.setScope([...roles, name], databases);
    if (kind === 'database' && !databases.includes(name)) this.setScope(roles, [...databases, name]);
  }

  private setScope(roles: readonly string[], databases: readonly string[]): void {
    const catalog = this.catalog;
    const key = JSON.stringify([[...roles].sort(), [...databases].sort()]);
    this.scope = catalog && roles.length + databases.length > 0 ? { catalog, roles, databases, key } : undefined;
    if (this.scope && this.timer === undefined && !this.stopped) this.timer = this.clock.setTimeout(() => this.tick(), 0);
  }

  private tick(): void {
    this.timer = undefined;
    const scope = this.scope;
    if (this.stopped || !scope) return;
    this.timer = this.clock.setTimeout(() => this.tick(), this.everyMs);
    if (this.running) return; // the last read is still under way: this tick is skipped
    this.running = this.read(scope).finally(() => (this.running = undefined));
  }

  /**
   * A pass reads the digest before it reads the objects, and again once it has followed them (afterPass): a
   * change between the two is one the pass may not have seen (or its own corrections), and asks for one more
   * pass; so does a pass that `corrected` something, since drift made again while it ended (A, B, A) leaves the
   * two reads equal. The second read is the one the next reads compare with: comparing with one read while the
   * drift was there would miss the same drift made again after the pass put it back.
   */
  async beforePass(): Promise<void> {
    this.atPassStart = await this.readNow();
  }

  async afterPass(corrected = false): Promise<void> {
    const before = this.atPassStart;
    this.atPassStart = undefined;
    const after = await this.readNow();
    if (after) this.last = after;
    const changed =
      before !== undefined && after !== undefined && sameScope(before.scope, after.scope) && before.fingerprint !== after.fingerprint;
    if ((changed || corrected) && after && !this.stopped) this.onChange();
  }

  /** A read now, after the one under way if any (never two at once); undefined when there is none to make or it failed. */
  private async readNow(): Promise<{ scope: Scope; fingerprint: string } | undefined> {
    while (this.running) await this.running;
    const scope = this.scope;
    if (this.stopped || !scope) return undefined;
    let result: { scope: Scope; fingerprint: string } | undefined;
    this.running = this.fetch(scope)
      .then((fingerprint) => void (result = fingerprint === undefined ? undefined : { scope, fingerprint }))
      .finally(() => (this.running = undefined));
    await this.running;
    return result;
  }

  /** A tick's read: compared with the last one of the same scope. */
  private async read(scope: Scope): Promise<void> {
    const fingerprint = await this.fetch(scope);
    if (fingerprint === undefined) return;
    const last = this.last;
    this.last = { scope, fingerprint };
    if (last && sameScope(last.scope, scope) && last.fingerprint !== fingerprint && !this.stopped) this.onChange();
  }

  /** The digest, or undefined when it could not be read (logged once, then at debug level until it can again). */
  private async fetch(scope: Scope): Promise<string | undefined> {
    try {
      const fingerprint = await scope.catalog.fingerprint({ roles: scope.roles, databases: scope.databases });
      if (this.failures > 0) this.log.info('reading the fingerprint of the managed roles and databases again');
      this.failures = 0;
      return fingerprint;
    } catch (error) {
      this.failures += 1;
      const fields = { failures: this.failures, ...failure(error) };
      if (this.failures === 1)
        this.log.warn(fields, 'reading the fingerprint of the managed roles and databases failed; retrying at every read');
      else this.log.debug(fields, 'reading the fingerprint failed again');
      return undefined;
    }
  }

  /** No read starts after this; the one under way, if any, finishes first. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
