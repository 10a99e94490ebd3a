// The fast path of drift detection (storage/catalog/drifttrigger.ts) as the reconciler runs it: per managed
// database, a connection of its own (NOTIFY reaches only sessions of the same database) that keeps our event
// triggers installed and LISTENs for them. A lost connection comes back with backoff. A user that may not
// create event triggers is asked again every ten minutes only: each refusal is an ERROR in the server's log.
import type pg from 'pg';
import { failure, type Logger } from '../lib/log.ts';
import type { Dedicated, ServerCatalog } from '../storage/catalog/server.ts';
import { driftChannel, listenedDatabases, planDriftTriggers, readDriftTriggers } from '../storage/catalog/drifttrigger.ts';
import { CatalogError } from '../storage/catalog/errors.ts';
import { quoteIdent } from '../storage/catalog/identifiers.ts';
import { removeFastPath } from './kinds/fastpath.ts';
import { backoffDelay } from '../lib/backoff.ts';

const firstRetryMs = 500;
const maxRetryMs = 30_000;
const refusedRetryMs = 10 * 60_000;

/** One database: its triggers installed, LISTEN, and `onChange` on every notification and every (re)connection. */
class DatabaseListener {
  private client: pg.Client | undefined;
  /** How to end each connection opened, giving its room in the connection budget back once closed. */
  private readonly ends = new WeakMap<pg.Client, () => Promise<void>>();
  private listening = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private refused = false;
  private stopped = false;

  constructor(
    private readonly catalog: ServerCatalog,
    private readonly database: string,
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.open();
  }

  private async open(): Promise<void> {
    this.timer = undefined;
    let dedicated: Dedicated;
    try {
      dedicated = await this.catalog.dedicatedClient(this.database);
    } catch (error) {
      return this.failed(error); // no room in the cluster's connection budget now
    }
    if (this.stopped) return void dedicated.end();
    const client = dedicated.client;
    this.client = client;
    this.ends.set(client, dedicated.end);
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    client.on('notification', () => this.onChange());
    try {
      await client.connect();
      if (!(await this.ensureTriggers(client))) return this.refuse(client);
      await client.query(`LISTEN ${quoteIdent(driftChannel)}`);
      if (this.failures > 0 || this.refused) this.log.info({ database: this.database }, 'listening for drift again');
      this.listening = true;
      this.failures = 0;
      this.refused = false;
      this.onChange(); // whatever changed while nobody listened
    } catch (error) {
      this.lost(client, error);
    }
  }

  /** Installs the triggers where they are missing; false when the connecting user may not. */
  private async ensureTriggers(client: pg.Client): Promise<boolean> {
    const plan = planDriftTriggers(this.database, await readDriftTriggers(client));
    if (plan.statements.length === 0) return true;
    try {
      await this.catalog.apply(plan);
    } catch (error) {
      if (error instanceof CatalogError && error.reason === 'PermissionDenied') return false;
      throw error;
    }
    this.log.info({ database: this.database }, 'installed the drift event triggers');
    return true;
  }

  private refuse(client: pg.Client): void {
    if (client !== this.client) return; // closed on purpose meanwhile
    void this.close(client);
    if (!this.refused)
      this.log.info(
        { database: this.database },
        'the connecting user may not create event triggers: drift in this database is found at each resync',
      );
    this.refused = true;
    this.retryIn(refusedRetryMs);
  }

  private lost(client: pg.Client, error: unknown): void {
    if (client !== this.client) return; // closed on purpose
    void this.close(client);
    this.failed(error);
  }

  private failed(error: unknown): void {
    this.failures += 1;
    const fields = { database: this.database, failures: this.failures, ...failure(error) };
    if (this.failures === 1) this.log.warn(fields, 'listening for drift failed; retrying with backoff');
    else this.log.debug(fields, 'listening for drift failed again');
    this.retryIn(backoffDelay(this.failures, { firstMs: firstRetryMs, maxMs: maxRetryMs }));
  }

  private close(client: pg.Client): Promise<void> {
    this.client = undefined;
    this.listening = false;
    return this.ends.get(client)?.() ?? Promise.resolve();
  }

  private retryIn(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.open(), ms);
  }

  /**
   * At every pass: a listener waiting after a failure tries now (its database may exist by now); one that listens
   * puts back triggers someone dropped. A refused one waits its ten minutes.
   */
  async check(): Promise<void> {
    const client = this.client;
    if (client && this.listening) {
      await this.ensureTriggers(client).then(
        (installed) => (installed ? undefined : this.refuse(client)),
        (error: unknown) => this.lost(client, error),
      );
    } else if (this.timer && !this.refused) {
      clearTimeout(this.timer);
      this.start(); // not awaited: a server that does not answer must not hold up the pass
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.client) await this.close(this.client);
  }
}

/** One DatabaseCluster's listeners: one per managed database, through the catalog of the cluster's current DSN. */
export class DriftListeners {
  private catalog: ServerCatalog | undefined;
  private readonly byDatabase = new Map<string, DatabaseListener>();

  constructor(
    /** Called on every notification: something may have drifted. */
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  /**
   * Listeners on the `databases` that get one (listenedDatabases: a capped number) through `catalog` (none
   * without one); a new catalog (a changed DSN) replaces them all. A template gets none: a connection to it
   * would make every CREATE DATABASE copying it fail, and triggers in it would be copied into every copy.
   * `named`: every database a Database of the cluster names, being deleted or not; a listened one that left it
   * is released. Without it (the Databases could not be read), none is.
   */
  async follow(catalog: ServerCatalog | undefined, managed: readonly string[], named?: readonly string[]): Promise<void> {
    const templates = catalog ? await catalog.templatesAmong(managed) : new Set<string>();
    const databases = catalog
      ? listenedDatabases(
          managed.filter((database) => !templates.has(database)),
          catalog.connectionBudget,
        )
      : [];
    if (catalog !== this.catalog) {
      await this.stop();
      this.catalog = catalog;
    }
    const gone = [...this.byDatabase.keys()].filter((database) => !catalog || !databases.includes(database));
    await Promise.all(
      gone.map(async (database) => {
        await this.stopListener(database);
        // A database no Database names any more (deleted with reclaimPolicy Retain) loses our triggers, function
        // and schema. The Database's delete removed them already; this catches a pass that put them back meanwhile.
        if (catalog && named && !named.includes(database)) await removeFastPath(catalog, database, this.log);
      }),
    );
    if (!catalog) return;
    await Promise.all(
      databases.map((database) => {
        const listener = this.byDatabase.get(database);
        if (listener) return listener.check();
        const started = new DatabaseListener(catalog, database, this.onChange, this.log);
        this.byDatabase.set(database, started);
        started.start();
        return undefined;
      }),
    );
  }

  private async stopListener(database: string): Promise<void> {
    const listener = this.byDatabase.get(database);
    this.byDatabase.delete(database);
    await listener?.stop();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byDatabase.keys()].map((database) => this.stopListener(database)));
  }
}
