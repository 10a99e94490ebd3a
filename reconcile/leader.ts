// Leader election through the object store's PostgreSQL: the replica holding a session advisory lock leads
// (runs the reconciler); every replica serves the API. A leader that dies drops its connection, PostgreSQL
// releases the lock, and another replica takes over at its next try.
import pg from 'pg';
import { connectionConfig } from '../storage/catalog/dsn.ts';
import type { Logger } from '../apiserver/log.ts';

// Any constant the replicas agree on; held for as long as the leader's connection lives.
const leaderLockKey = 0x70675f6c656164n;

export class LeaderElection {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;

  constructor(
    private readonly dsn: string,
    private readonly log: Logger,
    /** How often a follower tries to take the lead. */
    private readonly retryMs = 2_000,
  ) {}

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tryLead();
  }

  private async tryLead(): Promise<void> {
    if (this.stopped) return;
    try {
      this.client ??= await this.connect();
      const { rows } = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [leaderLockKey.toString()]);
      if (rows[0]!.ok && !this.leading) this.log.info('leading: this replica runs the reconciler');
      this.leading = rows[0]!.ok;
    } catch (error) {
      this.lose(error);
    }
    if (!this.leading) this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.stopped) this.timer = setTimeout(() => void this.tryLead(), this.retryMs);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ ...connectionConfig(this.dsn), application_name: 'postgres-apiserver leader', keepAlive: true });
    client.on('error', (error) => this.lose(error));
    client.on('end', () => this.lose(new Error('connection ended')));
    await client.connect();
    return client;
  }

  /** The lock went with the connection: follow, and try again later. */
  private lose(error: unknown): void {
    const client = this.client;
    this.client = undefined;
    void client?.end().catch(() => undefined);
    if (this.leading) this.log.warn({ err: error }, 'lost the lead');
    this.leading = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.leading = false;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
