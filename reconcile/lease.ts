// Leader election in a cluster: the replica holding a coordination.k8s.io/v1 Lease leads. The rules are
// client-go's (tools/leaderelection/leaderelection.go):
// - A replica judges the Lease by its own clock, never by the times written in it: the Lease has expired once
//   leaseDurationSeconds have passed since this replica last saw its record change. Clocks may be set apart;
//   they need only run at about the same rate.
// - Every write names the resourceVersion it read: of two replicas taking an expired Lease at once, one gets a
//   Conflict and follows.
// - A leader renews every few seconds. One that has not renewed within the renew deadline, shorter than the
//   lease duration, stops leading before any other replica may take the Lease; one that sees another holder
//   stops at once.
// - Taking the Lease from another holder (or from nobody) counts a transition; a renewal keeps acquireTime.
// - A clean stop releases the Lease (no holder, one second left), so another replica takes over at its next look.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { failureOf } from '../storage/kubernetes/delegation.ts';
import type { Logger } from '../lib/log.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { Leadership, type LeaderElection } from './leader.ts';
import type { KubeObject } from '../openapi/objects.ts';
import type { ObjectAccess } from '../storage/kubernetes/types.ts';
import { microTime } from '../lib/time.ts';

export interface LeaseTiming {
  /** How long a Lease whose record nobody changes stays held: its leaseDurationSeconds. */
  leaseDurationMs: number;
  /** How long a leader leads on without a renewal that succeeded; shorter than leaseDurationMs. */
  renewDeadlineMs: number;
  /** How often a leader renews. */
  renewEveryMs: number;
  /** How often a follower looks at the Lease and a leader retries a failed renewal (plus up to 20 % jitter). */
  retryPeriodMs: number;
}

/**
 * Tighter than client-go's 15/10/2 s: a follower sees a renewal within a retry period and takes over once the
 * lease has gone unrenewed for its duration, so a dead leader is replaced within about 10 + 2 × 1.2 s — inside
 * the 15 s the reconciler promises. The leader gives up (renew deadline) before anyone may take over.
 */
export const defaultLeaseTiming: LeaseTiming = {
  leaseDurationMs: 10_000,
  renewDeadlineMs: 7_000,
  renewEveryMs: 2_000,
  retryPeriodMs: 1_000,
};

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** The Lease as this replica last saw it, and when its record last changed by this replica's clock. */
export interface Observation {
  lease: KubeObject;
  record: string;
  changedAt: number;
}

export function specOf(lease: KubeObject): LeaseSpec {
  return (lease.spec ?? {}) as LeaseSpec;
}

/** The record's fields in a fixed order: two reads saw the same record when these are equal. */
function recordOf({
  holderIdentity = '',
  leaseDurationSeconds = 0,
  acquireTime = '',
  renewTime = '',
  leaseTransitions = 0,
}: LeaseSpec): string {
  return JSON.stringify([holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions]);
}

/** The Lease read or written at `now`; its clock restarts only when its record differs from the one seen before. */
export function observe(previous: Observation | undefined, lease: KubeObject, now: number): Observation {
  const record = recordOf(specOf(lease));
  return { lease, record, changedAt: previous?.record === record ? previous.changedAt : now };
}

/** Whether another replica holds the Lease and, by this replica's clock, it has not expired. */
export function heldByAnother(observation: Observation, identity: string, now: number): boolean {
  const { holderIdentity, leaseDurationSeconds = 0 } = specOf(observation.lease);
  return !!holderIdentity && holderIdentity !== identity && now < observation.changedAt + leaseDurationSeconds * 1000;
}

/** The record that takes or keeps the Lease (`current` is undefined when there is no Lease yet). */
export function claimed(current: LeaseSpec | undefined, identity: string, leaseDurationSeconds: number, now: Date): LeaseSpec {
  const renewing = current?.holderIdentity === identity;
  const time = microTime(now);
  return {
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTime: renewing ? current.acquireTime : time,
    renewTime: time,
    leaseTransitions: (current?.leaseTransitions ?? 0) + (current && !renewing ? 1 : 0),
  };
}

/** The record a leader leaves when it stops: no holder, and a second before whoever looks may take it. */
export function released(current: LeaseSpec, now: Date): LeaseSpec {
  const time = microTime(now);
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: time,
    renewTime: time,
    leaseTransitions: current.leaseTransitions ?? 0,
  };
}

/** `work`, or a rejection once `ms` have passed on `clock` (the request itself is left to finish). */
export function withTimeout<T>(work: Promise<T>, ms: number, clock: Clock): Promise<T> {
  let timer: unknown;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = clock.setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clock.clearTimeout(timer));
}

/** hostname and a random suffix: two replicas on one host, or one restarted, never share an identity. */
export function replicaIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString('hex')}`;
}

export interface LeaseHoldOptions {
  /** Leases in the cluster (coordination.k8s.io/v1). */
  leases: ObjectAccess;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  timing: LeaseTiming;
  clock: Clock;
}

/**
 * One Lease as one replica takes, keeps and gives it up, by the rules above. Who reads the Lease, and when,
 * is its owner's choice: an election of its own (LeaseElection), or one list for many Leases (shards.ts).
 */
export class LeaseHold {
  private readonly leadership = new Leadership();
  private observation: Observation | undefined;
  /** When the last renewal that succeeded was sent, by this replica's clock. */
  private renewedAt = -Infinity;
  private deadline: unknown;
  private closed = false;

  constructor(private readonly options: LeaseHoldOptions) {}

  get name(): string {
    return this.options.name;
  }

  /**
   * Judged by the clock, not only by the deadline's timer (which a busy process runs late): a hold past its renew
   * deadline is lost here, and the listeners hear it before this answers.
   */
  holds(): boolean {
    if (this.leadership.get() && this.options.clock.now() >= this.renewedAt + this.options.timing.renewDeadlineMs)
      this.lose('the Lease was not renewed within the renew deadline');
    return this.leadership.get();
  }

  onChange(listener: (holding: boolean) => void): void {
    this.leadership.onChange(listener);
  }

  /** Whether this replica holds the Lease and renewed it less than `ms` ago. */
  renewedWithin(ms: number): boolean {
    return this.holds() && this.options.clock.now() < this.renewedAt + ms;
  }

  /** Who holds the Lease by this replica's clock: this replica, another whose hold has not expired, or nobody. */
  holder(): string | undefined {
    if (this.holds()) return this.options.identity;
    const { observation } = this;
    const now = this.options.clock.now();
    return observation && heldByAnother(observation, this.options.identity, now) ? specOf(observation.lease).holderIdentity : undefined;
  }

  /** The Lease as read by someone else (a list), at `now`. */
  see(lease: KubeObject, now: number): void {
    const holder = specOf(lease).holderIdentity;
    if (holder && holder !== this.options.identity && holder !== (this.observation && specOf(this.observation.lease).holderIdentity)) {
      this.options.log.info({ lease: this.options.name, holder }, 'another replica holds the Lease');
    }
    this.observation = observe(this.observation, lease, now);
  }

  /**
   * One try to take or keep the Lease, bounded by the renew deadline; `read` gives the Lease as it is now
   * (undefined when there is none). Whether this replica holds it afterwards.
   */
  async turn(read: () => Promise<KubeObject | undefined>): Promise<boolean> {
    const { clock, timing, log, name } = this.options;
    const startedAt = clock.now();
    const holds = await withTimeout(this.tryAcquireOrRenew(startedAt, read), timing.renewDeadlineMs, clock).catch((error: unknown) => {
      log.debug({ lease: name, err: failureOf(error) }, 'the Lease could not be read or written');
      return false;
    });
    if (this.closed) return false;
    if (holds) this.renewed(startedAt);
    else if (this.observation && heldByAnother(this.observation, this.options.identity, clock.now()))
      this.lose('another replica holds the Lease');
    return holds;
  }

  /** client-go's tryAcquireOrRenew: whether this replica holds the Lease after one read and at most two writes. */
  private async tryAcquireOrRenew(now: number, read: () => Promise<KubeObject | undefined>): Promise<boolean> {
    const { leases, namespace, name, identity } = this.options;
    const durationSeconds = Math.round(this.options.timing.leaseDurationMs / 1000);
    // A holder writes over the Lease it saw last; a Conflict means it changed since, so it reads it again.
    if (this.leadership.get() && this.observation) {
      const renewed = await this.write(
        this.observation.lease,
        claimed(specOf(this.observation.lease), identity, durationSeconds, new Date(now)),
      ).catch(() => undefined);
      if (renewed) return true;
    }
    const lease = await read();
    if (!lease) {
      const created = await leases.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: claimed(undefined, identity, durationSeconds, new Date(now)),
      });
      this.see(created, now);
      return true;
    }
    this.see(lease, now);
    if (heldByAnother(this.observation!, identity, now)) return false;
    await this.write(lease, claimed(specOf(lease), identity, durationSeconds, new Date(now)));
    return true;
  }

  private async write(lease: KubeObject, spec: LeaseSpec): Promise<KubeObject> {
    const written = await this.options.leases.replace({ ...lease, spec });
    this.see(written, this.options.clock.now());
    return written;
  }

  /** The hold lasts the renew deadline from when the renewal that succeeded was sent. */
  private renewed(sentAt: number): void {
    const { clock, timing, log, name, identity } = this.options;
    this.renewedAt = sentAt;
    clock.clearTimeout(this.deadline);
    this.deadline = clock.setTimeout(() => this.holds(), sentAt + timing.renewDeadlineMs - clock.now());
    if (!this.leadership.get()) log.info({ lease: name, identity }, 'holding the Lease');
    this.leadership.set(true);
  }

  private lose(why: string): void {
    this.options.clock.clearTimeout(this.deadline);
    if (this.leadership.get())
      this.options.log.warn({ lease: this.options.name, identity: this.options.identity }, `lost the Lease: ${why}`);
    this.leadership.set(false);
  }

  /**
   * Gives the Lease up (no holder, one second left), so another replica takes it at its next look; the
   * listeners hear the loss first, and the write waits for `beforeWrite` (what they stop). A failed write leaves
   * the Lease to expire.
   */
  async release(beforeWrite: () => Promise<unknown> = async () => undefined): Promise<void> {
    this.options.clock.clearTimeout(this.deadline);
    this.leadership.set(false);
    await beforeWrite();
    const lease = this.observation?.lease;
    const { log, name, identity, clock, leases } = this.options;
    if (!lease || specOf(lease).holderIdentity !== identity) return;
    await leases.replace({ ...lease, spec: released(specOf(lease), new Date(clock.now())) }).then(
      (written) => {
        this.observation = observe(this.observation, written, clock.now());
        log.info({ lease: name }, 'released the Lease');
      },
      (error: unknown) =>
        log.warn({ lease: name, err: failureOf(error) }, 'releasing the Lease failed: another replica takes it once it expires'),
    );
  }

  /** No turn counts from now on (one under way included); release() may still follow. */
  close(): void {
    this.closed = true;
    this.options.clock.clearTimeout(this.deadline);
  }
}

export interface LeaseElectionOptions {
  /** Leases in the cluster (coordination.k8s.io/v1). */
  leases: ObjectAccess;
  namespace: string;
  name: string;
  log: Logger;
  /** Shared with the replica's other Leases (its shards), so that all name it alike. */
  identity?: string;
  timing?: LeaseTiming;
  clock?: Clock;
}

/** The replica holding one Lease leads: it reads the Lease itself, renews it, and follows it while another holds it. */
export class LeaseElection implements LeaderElection {
  readonly identity: string;
  private readonly hold: LeaseHold;
  private readonly timing: LeaseTiming;
  private readonly clock: Clock;
  private timer: unknown;
  private beat: () => void = () => undefined;
  private trying: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: LeaseElectionOptions) {
    this.identity = options.identity ?? replicaIdentity();
    this.timing = options.timing ?? defaultLeaseTiming;
    this.clock = options.clock ?? systemClock;
    const { leases, namespace, name, log } = options;
    this.hold = new LeaseHold({ leases, namespace, name, log, identity: this.identity, timing: this.timing, clock: this.clock });
  }

  isLeader(): boolean {
    return this.hold.holds();
  }

  onChange(listener: (leading: boolean) => void): void {
    this.hold.onChange(listener);
  }

  start(beat?: () => void): void {
    if (beat) this.beat = beat;
    this.options.log.info(
      { lease: `${this.options.namespace}/${this.options.name}`, identity: this.identity },
      'electing a leader by Lease',
    );
    this.cycle();
  }

  private cycle(): void {
    this.beat();
    const { leases, namespace, name } = this.options;
    this.trying = this.hold
      .turn(() => leases.get(namespace, name))
      .then((holds) => {
        const nextInMs = holds ? this.timing.renewEveryMs : this.timing.retryPeriodMs * (1 + Math.random() * 0.2);
        if (!this.stopped) this.timer = this.clock.setTimeout(() => this.cycle(), nextInMs);
      });
  }

  /** Stops trying; a holder releases the Lease (once the server has stopped the reconciler: it stops this last). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.hold.close();
    await this.trying;
    await this.hold.release();
  }
}
