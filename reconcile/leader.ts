// Leader election: when several replicas serve one store, exactly one leads and every one serves the API. Local
// mode elects through the store's PostgreSQL (below), and its leader runs every DatabaseCluster's loop; cluster
// mode through a Kubernetes Lease (lease.ts), whose holder runs the store's retention while the loops are shared
// by shard Leases (shards.ts).
import type pg from 'pg';
import { systemClock, type Clock } from '../lib/clock.ts';
import { guardedClient } from '../storage/connections.ts';
import { connectionConfig } from '../storage/catalog/dsn.ts';
import { failure, type Logger } from '../lib/log.ts';

export interface LeaderElection {
  /** Takes part from now on; `beat` is called at each turn (Heartbeats, for /livez). */
  start(beat?: () => void): void;
  isLeader(): boolean;
  /** `listener(true)` when this replica starts leading, `listener(false)` the moment it stops. */
  onChange(listener: (leading: boolean) => void): void;
  /** Stops taking part; a leader gives the lead up. */
  stop(): Promise<void>;
}

/** Whether this replica leads, and who hears when that changes. */
export class Leadership {
  private leading = false;
  private readonly listeners: ((leading: boolean) => void)[] = [];

  get(): boolean {
    return this.leading;
  }

  onChange(listener: (leading: boolean) => void): void {
    this.listeners.push(listener);
  }

  set(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    for (const listener of this.listeners) listener(leading);
  }
}

// Any constant the replicas agree on; held for as long as the leader's connection lives.
const leaderLockKey = 0x70675f6c656164n;

/**
 * The replica holding a session advisory lock in the store's PostgreSQL leads. A leader that dies drops its
 * connection, PostgreSQL releases the lock, and another replica takes over at its next try.
 */
export class AdvisoryLockElection implements LeaderElection {
  private readonly leadership = new Leadership();
  private client: pg.Client | undefined;
  private timer: unknown;
  private beat: () => void = () => undefined;
  private stopped = false;

  constructor(
    private readonly dsn: string,
    private readonly log: Logger,
    /** How often a follower tries to take the lead, and a leader checks that its connection still holds the lock. */
    private readonly retryMs = 2_000,
    private readonly clock: Clock = systemClock,
  ) {}

  isLeader(): boolean {
    return this.leadership.get();
  }

  onChange(listener: (leading: boolean) => void): void {
    this.leadership.onChange(listener);
  }

  start(beat?: () => void): void {
    if (beat) this.beat = beat;
    void this.tryLead();
  }

  private async tryLead(): Promise<void> {
    if (this.stopped) return;
    this.beat();
    try {
      this.client ??= await this.connect();
      if (this.isLeader()) {
        // The lock lasts exactly as long as this connection: a leader checks that it still lives.
        await this.client.query('SELECT 1');
      } else {
        const { rows } = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [leaderLockKey.toString()]);
        if (rows[0]!.ok) this.log.info('leading: this replica runs the reconciler');
        this.leadership.set(rows[0]!.ok);
      }
    } catch (error) {
      this.lose(error);
    }
    this.schedule();
  }

  private schedule(): void {
    this.clock.clearTimeout(this.timer);
    if (!this.stopped) this.timer = this.clock.setTimeout(() => void this.tryLead(), this.retryMs);
  }

  private async connect(): Promise<pg.Client> {
    const client = guardedClient(
      { ...connectionConfig(this.dsn), application_name: 'postgres-apiserver leader', keepAlive: true },
      (error) => this.lose(error),
    );
    client.on('end', () => this.lose(new Error('connection ended')));
    await client.connect().catch(async (error: unknown) => {
      await client.end().catch(() => undefined);
      throw error;
    });
    return client;
  }

  /** The lock went with the connection: follow, and try again later. */
  private lose(error: unknown): void {
    const client = this.client;
    this.client = undefined;
    void client?.end().catch(() => undefined);
    if (this.isLeader()) this.log.warn(failure(error), 'lost the lead');
    this.leadership.set(false);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.leadership.set(false);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
