// The DatabaseClusters' loops shared among the replicas of a cluster (DESIGN.md, Modes). A fixed number of shard
// Leases, not one Lease per DatabaseCluster: the writes kube-apiserver takes stay the same whatever the fleet's
// size (12 shards renewed every 2 s are 6 writes a second; 200 per-cluster Leases would be 100), and one list
// a second per replica reads them all. A DatabaseCluster belongs to the shard its name hashes to; a replica
// reconciles it only while it holds that shard's Lease, by the rules of lease.ts (LeaseHold).
//
// How many shards a replica takes: its fair share, shards / live replicas rounded up. Live replicas are the
// holders it sees (by its own clock), of shards and of seats: each replica also holds one seat Lease, so that
// a replica holding no shard yet is counted too. A replica above its share releases the surplus, which one
// below it then takes; a dead replica's Leases expire together, its shards are free, and the others take them
// up to their new, larger share. Replicas beyond the number of shards hold none and only serve the API.
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import type { KubeObject } from '../openapi/objects.ts';
import { failureOf } from '../storage/kubernetes/delegation.ts';
import type { ObjectAccess } from '../storage/kubernetes/types.ts';
import { defaultLeaseTiming, LeaseHold, withTimeout, type LeaseTiming } from './lease.ts';
import type { ClusterOwnership } from './reconciler.ts';

/** Enough for a fair spread over up to a dozen replicas; every replica must count the same. */
export const defaultShardCount = 12;

function hashOf(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}

/** The shard a DatabaseCluster belongs to: a hash of its name, the same on every replica. */
export function shardOf(cluster: string, shards: number): number {
  return hashOf(cluster) % shards;
}

/** How many shards each of `replicas` live replicas takes: all of them are held when each takes its share. */
export function fairShare(shards: number, replicas: number): number {
  return Math.ceil(shards / Math.max(1, replicas));
}

/** How many replicas are alive: the distinct holders seen, this replica among them. */
export function liveReplicas(holders: Iterable<string | undefined>, identity: string): number {
  const alive = new Set([identity]);
  for (const holder of holders) if (holder) alive.add(holder);
  return alive.size;
}

/**
 * The Leases (by index) this replica wants among those whose holders are given (undefined: nobody whose hold
 * has not expired): those it holds, up to `share` (the lowest kept), then free ones up to `share`. Each replica
 * looks at the free ones from a place of its own, so that replicas starting together seldom race for one.
 */
export function wantedLeases(holders: readonly (string | undefined)[], identity: string, share: number): Set<number> {
  const indices = holders.map((_holder, index) => index);
  const mine = indices.filter((index) => holders[index] === identity);
  if (mine.length >= share) return new Set(mine.slice(0, share));
  const start = hashOf(identity) % Math.max(1, holders.length);
  const free = [...indices.slice(start), ...indices.slice(0, start)].filter((index) => holders[index] === undefined);
  return new Set([...mine, ...free.slice(0, share - mine.length)]);
}

export interface ShardElectionOptions {
  /** Leases in the cluster (coordination.k8s.io/v1): listed once a turn. */
  leases: ObjectAccess;
  namespace: string;
  /** The prefix of the Leases' names: `<prefix>-shard-<n>`, `<prefix>-replica-<n>`. */
  prefix: string;
  identity: string;
  log: Logger;
  shards?: number;
  timing?: LeaseTiming;
  clock?: Clock;
}

/** This replica's shards: which DatabaseClusters it reconciles now. */
export class ShardElection implements ClusterOwnership {
  readonly shardCount: number;
  private readonly shards: LeaseHold[];
  /** One held by each live replica: as many as shards, since a replica beyond them would hold no shard anyway. */
  private readonly seats: LeaseHold[];
  private readonly timing: LeaseTiming;
  private readonly clock: Clock;
  private timer: unknown;
  private beat: () => void = () => undefined;
  private turning: Promise<void> | undefined;
  private readonly listeners: (() => Promise<unknown> | void)[] = [];
  /** What the listeners do about the last change (a reconciler stopping loops). */
  private settled: Promise<unknown> = Promise.resolve();
  /** Surplus shards being given up, in the background: their loops stop first. */
  private readonly releasing = new Map<LeaseHold, Promise<void>>();
  private stopped = false;

  constructor(private readonly options: ShardElectionOptions) {
    this.shardCount = options.shards ?? defaultShardCount;
    this.timing = options.timing ?? defaultLeaseTiming;
    this.clock = options.clock ?? systemClock;
    const hold = (name: string) => new LeaseHold({ ...options, name: `${options.prefix}-${name}`, timing: this.timing, clock: this.clock });
    this.shards = Array.from({ length: this.shardCount }, (_none, index) => hold(`shard-${index}`));
    this.seats = Array.from({ length: this.shardCount }, (_none, index) => hold(`replica-${index}`));
    for (const shard of this.shards) shard.onChange(() => this.tellListeners());
  }

  private tellListeners(): void {
    this.settled = Promise.all(this.listeners.map((listener) => listener()));
  }

  owns(cluster: string): boolean {
    return this.shards[shardOf(cluster, this.shardCount)]!.holds();
  }

  ownsAny(): boolean {
    return this.shards.some((hold) => hold.holds());
  }

  /** The shards held now, by index. */
  held(): number[] {
    return this.shards.flatMap((hold, index) => (hold.holds() ? [index] : []));
  }

  /** Who holds each shard, as this replica sees it (undefined: nobody). */
  holders(): (string | undefined)[] {
    return this.shards.map((hold) => hold.holder());
  }

  /**
   * Heard at once when a shard is taken or lost (a lost one before owns() says so). A surplus shard's Lease is
   * released once what the listener returns has settled (its loops stopped), or after the renew deadline.
   */
  onChange(listener: () => Promise<unknown> | void): void {
    this.listeners.push(listener);
  }

  start(beat?: () => void): void {
    if (beat) this.beat = beat;
    const { namespace, prefix, identity, log } = this.options;
    log.info({ leases: `${namespace}/${prefix}-shard-*`, shards: this.shardCount, identity }, 'sharing the DatabaseClusters by Lease');
    this.cycle();
  }

  private cycle(): void {
    this.beat();
    // Every replica looks every retry period (a dead replica's shards are seen free a retry period after they
    // expire) and renews what it holds every renewEveryMs.
    this.turning = this.turn().then(() => {
      if (!this.stopped) this.timer = this.clock.setTimeout(() => this.cycle(), this.timing.retryPeriodMs * (1 + Math.random() * 0.2));
    });
  }

  /** One list of the Leases, then each wanted one taken or kept and each surplus one released. */
  private async turn(): Promise<void> {
    const { leases, namespace, log, identity } = this.options;
    const listed = await withTimeout(leases.list(namespace), this.timing.renewDeadlineMs, this.clock).then(
      (items) => new Map(items.map((lease) => [lease.metadata.name, lease])),
      (error: unknown) => void log.debug({ err: failureOf(error) }, 'the Leases could not be listed'),
    );
    const seenAt = this.clock.now();
    const all = [...this.shards, ...this.seats];
    for (const hold of all) {
      const lease = listed?.get(hold.name);
      if (lease) hold.see(lease, seenAt);
    }
    const replicas = liveReplicas(
      all.map((hold) => hold.holder()),
      identity,
    );
    const seatHolders = this.seats.map((hold) => hold.holder());
    const read = (hold: LeaseHold) => async (): Promise<KubeObject | undefined> => {
      if (!listed) throw new Error('the Leases could not be listed');
      return listed.get(hold.name);
    };
    await Promise.all([
      ...this.takeOrKeep(this.seats, wantedLeases(seatHolders, identity, 1), read),
      ...this.takeOrKeep(this.shards, wantedLeases(this.holders(), identity, fairShare(this.shardCount, replicas)), read),
    ]);
  }

  /**
   * A turn of each wanted Lease not renewed within renewEveryMs. One held but not wanted is released in the
   * background, so that the renewals of the others never wait for its loops to stop.
   */
  private takeOrKeep(
    holds: readonly LeaseHold[],
    wanted: ReadonlySet<number>,
    read: (hold: LeaseHold) => () => Promise<KubeObject | undefined>,
  ): Promise<boolean>[] {
    return holds.flatMap((hold, index) => {
      if (this.releasing.has(hold)) return [];
      if (wanted.has(index)) return hold.renewedWithin(this.timing.renewEveryMs) ? [] : [hold.turn(read(hold))];
      if (hold.holds()) this.releaseInBackground(hold);
      return [];
    });
  }

  private releaseInBackground(hold: LeaseHold): void {
    const loopsStopped = () => withTimeout(this.settled, this.timing.renewDeadlineMs, this.clock).catch(() => undefined);
    this.releasing.set(
      hold,
      hold.release(loopsStopped).finally(() => this.releasing.delete(hold)),
    );
  }

  /** Stops taking part; the Leases held are released, so the other replicas take the shards at their next look. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    const all = [...this.shards, ...this.seats];
    for (const hold of all) hold.close();
    await this.turning;
    await Promise.all(this.releasing.values());
    await Promise.all(all.map((hold) => hold.release()));
  }
}
