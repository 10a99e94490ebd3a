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
function withTimeout<T>(work: Promise<T>, ms: number, clock: Clock): Promise<T> {
  let timer: unknown;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = clock.setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clock.clearTimeout(timer));
}

export interface LeaseElectionOptions {
  /** Leases in the cluster (coordination.k8s.io/v1). */
  leases: ObjectAccess;
  namespace: string;
  name: string;
  log: Logger;
  timing?: LeaseTiming;
  clock?: Clock;
}

export class LeaseElection implements LeaderElection {
  /** hostname and a random suffix: two replicas on one host, or one restarted, never share an identity. */
  readonly identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
  private readonly leadership = new Leadership();
  private readonly timing: LeaseTiming;
  private readonly clock: Clock;
  private observation: Observation | undefined;
  /** When the last renewal that succeeded was sent, by this replica's clock. */
  private renewedAt = -Infinity;
  private timer: unknown;
  private deadline: unknown;
  private beat: () => void = () => undefined;
  private trying: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: LeaseElectionOptions) {
    this.timing = options.timing ?? defaultLeaseTiming;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Judged by the clock, not only by the deadline's timer (which a busy process runs late): a lead past its renew
   * deadline is lost here, and the listeners hear it before this answers.
   */
  isLeader(): boolean {
    if (this.leadership.get() && this.clock.now() >= this.renewedAt + this.timing.renewDeadlineMs)
      this.lose('the Lease was not renewed within the renew deadline');
    return this.leadership.get();
  }

  onChange(listener: (leading: boolean) => void): void {
    this.leadership.onChange(listener);
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
    this.trying = this.tryOnce().then((nextInMs) => {
      if (!this.stopped) this.timer = this.clock.setTimeout(() => this.cycle(), nextInMs);
    });
  }

  /** One try to take or keep the Lease, bounded by the renew deadline; resolves with how soon to try again. */
  private async tryOnce(): Promise<number> {
    const startedAt = this.clock.now();
    const holds = await withTimeout(this.tryAcquireOrRenew(startedAt), this.timing.renewDeadlineMs, this.clock).catch((error: unknown) => {
      this.options.log.debug({ err: failureOf(error) }, 'the Lease could not be read or written');
      return false;
    });
    if (this.stopped) return 0;
    if (holds) this.renewed(startedAt);
    else if (this.observation && heldByAnother(this.observation, this.identity, this.clock.now()))
      this.lose('another replica holds the Lease');
    return holds ? this.timing.renewEveryMs : this.timing.retryPeriodMs * (1 + Math.random() * 0.2);
  }

  /** client-go's tryAcquireOrRenew: whether this replica holds the Lease after one read and at most two writes. */
  private async tryAcquireOrRenew(now: number): Promise<boolean> {
    const { leases, namespace, name } = this.options;
    const durationSeconds = Math.round(this.timing.leaseDurationMs / 1000);
    // A leader writes over the Lease it saw last; a Conflict means it changed since, so it reads it again.
    if (this.leadership.get() && this.observation) {
      const renewed = await this.write(
        this.observation.lease,
        claimed(specOf(this.observation.lease), this.identity, durationSeconds, new Date(now)),
      ).catch(() => undefined);
      if (renewed) return true;
    }
    const lease = await leases.get(namespace, name);
    if (!lease) {
      const created = await leases.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: claimed(undefined, this.identity, durationSeconds, new Date(now)),
      });
      this.see(created, now);
      return true;
    }
    this.see(lease, now);
    if (heldByAnother(this.observation!, this.identity, now)) return false;
    await this.write(lease, claimed(specOf(lease), this.identity, durationSeconds, new Date(now)));
    return true;
  }

  private async write(lease: KubeObject, spec: LeaseSpec): Promise<KubeObject> {
    const written = await this.options.leases.replace({ ...lease, spec });
    this.see(written, this.clock.now());
    return written;
  }

  private see(lease: KubeObject, now: number): void {
    const holder = specOf(lease).holderIdentity;
    if (holder && holder !== this.identity && holder !== (this.observation && specOf(this.observation.lease).holderIdentity)) {
      this.options.log.info({ holder }, 'another replica leads');
    }
    this.observation = observe(this.observation, lease, now);
  }

  /** The lead lasts the renew deadline from when the renewal that succeeded was sent. */
  private renewed(sentAt: number): void {
    this.renewedAt = sentAt;
    this.clock.clearTimeout(this.deadline);
    this.deadline = this.clock.setTimeout(() => this.isLeader(), sentAt + this.timing.renewDeadlineMs - this.clock.now());
    if (!this.leadership.get())
      this.options.log.info({ identity: this.identity }, 'leading: this replica holds the Lease and runs the reconciler');
    this.leadership.set(true);
  }

  private lose(why: string): void {
    this.clock.clearTimeout(this.deadline);
    if (this.leadership.get()) this.options.log.warn({ identity: this.identity }, `lost the lead: ${why}`);
    this.leadership.set(false);
  }

  /** Stops trying; a holder releases the Lease (once the server has stopped the reconciler: it stops this last). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.deadline);
    await this.trying;
    this.leadership.set(false);
    const lease = this.observation?.lease;
    if (!lease || specOf(lease).holderIdentity !== this.identity) return;
    await this.options.leases.replace({ ...lease, spec: released(specOf(lease), new Date(this.clock.now())) }).then(
      () => this.options.log.info('released the Lease'),
      (error: unknown) =>
        this.options.log.warn({ err: failureOf(error) }, 'releasing the Lease failed: another replica takes over once it expires'),
    );
  }
}
